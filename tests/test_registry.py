"""The model registry: a family is one module plus one registration, and `trtbench models` lists the facts."""

from __future__ import annotations

import json
import math

import clay_spec
import dofa_spec
import pytest
import torch
from cli_helpers import run_cli

from trtbench.errors import TrtbenchError
from trtbench.models import MODELS, create_model, list_models, parameter_count, resolve_model_name
from trtbench.models.dofa import DOFAEncoder, DOFASize
from trtbench.models.registry import ENCODER, ModelFacts, register_model


def layout_parameters(layout: dict[str, tuple[int, ...]]) -> int:
    return sum(math.prod(shape) for shape in layout.values())


@pytest.fixture
def toy_family():
    """A new family registered the way a family module does it, removed again afterwards."""
    facts = ModelFacts(family="toy", label="Toy", variant="mini", kind=ENCODER, patch_size=16, input_size=96,
                       band_convention="any bands (wavelength-generated kernel)", wavelength_units="µm",
                       normalisation="the sensor table", embed_dim=32, depth=4, upernet_layers=(0, 1, 2, 3),
                       band_agnostic="dofa", source="this test")
    register_model("toy_mini", facts, aliases=("mini",), default=True)(lambda: DOFAEncoder(DOFASize(32, 4, 2)))
    yield "toy_mini"
    del MODELS["toy_mini"]


def test_names_resolve_by_family_and_variant():
    assert resolve_model_name("clay", None) == "clay_v1_5" and resolve_model_name("clay", "v1.0") == "clay_v1"
    assert resolve_model_name("dofa", None) == "dofa_base" and resolve_model_name("dofa", "large") == "dofa_large"
    assert resolve_model_name("unet", None) == "unet" and resolve_model_name("unet", "small") == "unet_small"
    assert resolve_model_name("dofa_large", None) == "dofa_large"
    with pytest.raises(TrtbenchError, match="unknown DOFA variant 'huge'") as err:
        resolve_model_name("dofa", "huge")
    assert "base" in err.value.fix and "large" in err.value.fix
    with pytest.raises(TrtbenchError, match="unknown model family 'satmae'"):
        resolve_model_name("satmae", None)


def test_every_registered_model_records_its_facts_in_the_metadata():
    for name in ("clay_tiny", "dofa_tiny"):
        facts = MODELS[name].facts
        meta = create_model(name, sensor="hls-s30", seed=0).metadata
        assert (meta.family, meta.variant, meta.patch_size, meta.input_size, meta.embed_dim) == (
            facts.family, facts.variant, facts.patch_size, facts.input_size, facts.embed_dim)
    for spec in MODELS.values():
        layers = spec.facts.upernet_layers
        if spec.facts.kind == ENCODER and spec.facts.wavelength_units is None:  # fixed channels (ViT, ResNet)
            assert spec.facts.band_agnostic is None and spec.facts.source
            assert layers is None or (len(layers) == 4 and layers[-1] == spec.facts.depth - 1)  # None: CNN stages
        elif spec.facts.kind == ENCODER:
            assert len(layers) == 4 and list(layers) == sorted(set(layers)) and layers[-1] == spec.facts.depth - 1
            assert spec.facts.wavelength_units and spec.facts.band_agnostic and spec.facts.source
        else:
            assert layers is None and spec.facts.band_agnostic is None


def test_parameter_counts_equal_the_official_layouts():
    assert parameter_count("dofa_base") == layout_parameters(dofa_spec.encoder_layout("base"))
    assert parameter_count("dofa_large") == layout_parameters(dofa_spec.encoder_layout("large"))
    assert parameter_count("clay_v1_5") == layout_parameters(clay_spec.encoder_layout("large"))


def test_a_new_family_is_one_registration(toy_family):
    model = create_model(resolve_model_name("toy", None), sensor="sentinel-2-l1c", task="segmentation",
                         head="upernet", num_classes=3)
    assert (model.metadata.family, model.metadata.input_size, model.tap_layers) == ("toy", 96, (0, 1, 2, 3))
    with torch.no_grad():
        assert model(torch.randn(1, 13, 96, 96))[0].shape == (1, 3, 96, 96)


def test_models_command_lists_every_model_with_its_facts(capsys, toy_family):
    result = run_cli(capsys, "models")
    assert result.code == 0, result.err
    rows = {line.split()[0]: line.split() for line in result.out.splitlines()[1:] if line.split()[0] in MODELS}
    assert set(rows) == set(list_models())
    assert rows["dofa_base"][1:4] + rows["dofa_base"][5:10] == [
        "DOFA", "base", f"{parameter_count('dofa_base') / 1e6:.1f}M", "16", "224", "768", "3,5,7,11", "dofa"]
    assert rows["unet"][8:10] == ["-", "no"]


def test_models_json_goes_to_a_file_or_stdout(capsys, tmp_path, toy_family):
    result = run_cli(capsys, "models", "--json", tmp_path / "models.json")
    assert result.code == 0, result.err
    records = {r["name"]: r for r in json.loads((tmp_path / "models.json").read_text())}
    assert list(records) == list_models()
    dofa = records["dofa_large"]
    assert (dofa["patch_size"], dofa["input_size"], dofa["upernet_layers"], dofa["band_agnostic"]) == (
        16, 224, [7, 11, 15, 23], "dofa")
    assert "DOFA_ViT_large_e100.pth" in dofa["official_weights"] and "nm" in dofa["wavelength_units"]
    assert dofa["parameters"] == layout_parameters(dofa_spec.encoder_layout("large"))
    printed = run_cli(capsys, "models", "--json", "-")
    assert printed.code == 0 and json.loads(printed.out) == list(records.values())


def test_models_json_to_an_unwritable_place_is_refused_before_any_work(capsys, tmp_path):
    result = run_cli(capsys, "models", "--json", tmp_path / "missing" / "models.json")
    assert result.code == 2
    assert result.err.startswith("error: --json") and "\n  fix: " in result.err and "Traceback" not in result.err
    assert not (tmp_path / "missing").exists()


def test_export_defaults_to_each_models_published_input_edge_which_its_patch_divides():
    from trtbench.cli import export

    params = export.make_context("export", ["panopticon", "--random-init", "-o", "p.onnx"]).params
    assert params["input_size"] is None  # a fixed 256 would refuse patch-14 models (Panopticon) unasked
    for name, spec in MODELS.items():
        assert spec.facts.input_size % spec.facts.patch_size == 0, name

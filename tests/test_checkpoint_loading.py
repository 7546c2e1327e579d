"""Official Clay Lightning checkpoints load strictly and safely; damaged ones fail naming the key."""

from __future__ import annotations

import pickle

import pytest
import torch
from clay_spec import encoder_layout, write_official_checkpoint

from trtbench.errors import CheckpointError
from trtbench.models import create_model, model_from_checkpoint, save_model


def test_encoder_state_dict_has_exactly_the_official_key_layout():
    model = create_model("clay_tiny")
    ours = {k: tuple(v.shape) for k, v in model.encoder.state_dict().items()}
    assert ours == encoder_layout("tiny")


def test_official_layout_checkpoint_loads_and_its_tensors_are_used(tmp_path):
    ckpt = write_official_checkpoint(tmp_path / "clay-tiny.ckpt", "tiny", seed=3)
    model = create_model("clay_tiny", checkpoint=ckpt)
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    for key in ("cls_token", "transformer.layers.5.1.net.3.weight", "patch_embedding.weight_generator.fc_bias.bias"):
        assert torch.equal(model.encoder.state_dict()[key], saved["model.encoder." + key])
    assert model.metadata.checkpoint_sha256 and model.metadata.checkpoint.endswith("clay-tiny.ckpt")


@pytest.mark.slow
def test_official_v1_5_large_checkpoint_loads_strictly(tmp_path):
    ckpt = write_official_checkpoint(tmp_path / "clay-v1.5.ckpt", "large")
    model = create_model("clay_v1_5", checkpoint=ckpt)
    params = sum(p.numel() for p in model.encoder.parameters())
    assert 300e6 < params < 320e6  # the v1.5 encoder is about 311 M parameters


@pytest.mark.parametrize("damage, expected", [
    ({"drop": "transformer.layers.2.0.to_qkv.weight"}, "missing key(s): transformer.layers.2.0.to_qkv.weight"),
    ({"extra": "transformer.layers.0.0.to_qkv.bias"}, "unexpected key(s): transformer.layers.0.0.to_qkv.bias"),
    ({"reshape": "patch_embedding.weight_generator.fc_bias.weight"},
     "patch_embedding.weight_generator.fc_bias.weight: checkpoint (193, 128) vs model (192, 128)"),
])
def test_damaged_checkpoint_fails_naming_the_key(tmp_path, damage, expected):
    ckpt = write_official_checkpoint(tmp_path / "bad.ckpt", "tiny", **damage)
    with pytest.raises(CheckpointError) as err:
        create_model("clay_tiny", checkpoint=ckpt)
    assert expected in str(err.value)


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    ckpt = write_official_checkpoint(tmp_path / "full.ckpt", "tiny")
    data = ckpt.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        create_model("clay_tiny", checkpoint=tmp_path / "cut.ckpt")


def test_checkpoint_of_another_size_is_refused_with_the_right_variant(tmp_path):
    ckpt = write_official_checkpoint(tmp_path / "small.ckpt", "small")
    with pytest.raises(CheckpointError, match="use --variant small"):
        create_model("clay_tiny", checkpoint=ckpt)


def test_checkpoint_holding_python_objects_is_not_unpickled(tmp_path, capfd):
    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": {}, "x": Payload()}, fh)
    with pytest.raises(CheckpointError, match="does not load: unpickling can run arbitrary code") as caught:
        create_model("clay_tiny", checkpoint=path)
    assert "code ran" not in capfd.readouterr().out
    # torch's own message advises turning safe loading off; trtbench never passes that on
    assert "weights_only" not in str(caught.value)


@pytest.mark.parametrize("suffix", [".ckpt", ".safetensors"])
def test_trtbench_checkpoint_round_trips_with_its_metadata(tmp_path, suffix):
    model = create_model("clay_tiny", sensor="hls-s30", task="segmentation", head="fcn", num_classes=2, seed=5)
    path = save_model(model, model.metadata, tmp_path / f"run{suffix}")
    again = model_from_checkpoint(path)
    assert again.metadata.bands == ["B02", "B03", "B04", "B8A", "B11", "B12"]
    assert again.metadata.task == "segmentation" and again.metadata.num_classes == 2
    x = torch.randn(1, 6, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x)[0], again(x)[0])


def test_official_checkpoint_is_not_mistaken_for_a_trtbench_checkpoint(tmp_path):
    ckpt = write_official_checkpoint(tmp_path / "clay.ckpt", "tiny")
    with pytest.raises(CheckpointError, match="export clay --checkpoint"):
        model_from_checkpoint(ckpt)

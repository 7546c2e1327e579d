"""FLOP counting: matches Clay's analytic cost, counts every operator, agrees with torch's own counter."""

from __future__ import annotations

import time

import pytest
import torch
from clay_spec import SIZES
from click.testing import CliRunner
from torch import nn

from trtbench.bench.flops import count_flops, generator_macs
from trtbench.cli import cli
from trtbench.models import create_model

# Clay's published sizes (tests/clay_spec.py, from reference/clay.md), not the code under test: patch 8,
# band embedding of wave_dim 128 with 128 latent tokens and a 2048-wide feed-forward.
PATCH, WAVE_DIM, LATENT_TOKENS, GENERATOR_FFN = 8, 128, 128, 2048


def clay_encoder_macs(variant: str, bands: int, height: int, width: int) -> int:
    """Analytic MACs of the folded Clay encoder: patch conv + depth x (qkv, attention, out, MLP)."""
    d, depth, heads, dim_head, mlp_ratio = SIZES[variant]
    p = PATCH
    patches = (height // p) * (width // p)
    n = patches + 1                                   # + CLS
    inner = heads * dim_head
    mlp = int(d * mlp_ratio)
    per_layer = n * d * 3 * inner + 2 * n * n * inner + n * inner * d + 2 * n * d * mlp
    return patches * d * bands * p * p + depth * per_layer


def generator_analytic_macs(variant: str, bands: int) -> int:
    """Analytic MACs of one run of the wavelength -> kernel generator (FC block, 1 transformer layer, heads)."""
    d, e, p = SIZES[variant][0], WAVE_DIM, PATCH
    tokens = LATENT_TOKENS + bands + 1
    layer = tokens * e * 3 * e + 2 * tokens * tokens * e + tokens * e * e + 2 * tokens * e * GENERATOR_FFN
    return 2 * bands * e * e + layer + bands * e * p * p * d + e * d


@pytest.mark.parametrize("height,width", [(64, 64), (64, 96)])
def test_tiny_encoder_macs_match_the_analytic_formula(height, width):
    model = create_model("clay_tiny", sensor="sentinel-2-l2a", seed=0)
    report = count_flops(model, (1, 10, height, width), cross_check=False)
    assert report.macs == clay_encoder_macs("tiny", 10, height, width)


def test_macs_grow_linearly_with_batch():
    model = create_model("clay_tiny", seed=0)
    one = count_flops(model, (1, 10, 64, 64), cross_check=False)
    three = count_flops(model, (3, 10, 64, 64), cross_check=False)
    assert three.macs == 3 * one.macs
    assert three.gmac_per_image == pytest.approx(one.gmac_per_image)


def test_every_operator_of_a_clay_segmentation_model_is_counted():
    model = create_model("clay_tiny", sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2, seed=0)
    report = count_flops(model, (1, 13, 64, 64), cross_check=False)
    assert report.uncounted == {}
    assert report.coverage == 1.0
    assert report.macs_by_module["head"] > 0 and report.macs_by_module["encoder"] > 0
    assert report.other_flops > 0 and "layer_norm" in report.other_by_operator


def test_fvcore_agrees_with_torch_flop_counter():
    model = create_model("clay_tiny", task="segmentation", head="fcn", num_classes=3, seed=0)
    report = count_flops(model, (2, 10, 64, 64))
    assert report.flop_counter_macs is not None
    assert report.cross_check_difference < 1e-3


def test_band_embedding_generator_is_counted_apart_and_not_included():
    model = create_model("clay_tiny", sensor="sentinel-2-l1c", seed=0)
    report = count_flops(model, (1, 13, 64, 64), cross_check=False)
    assert report.generator_macs == generator_analytic_macs("tiny", 13)
    assert report.macs == clay_encoder_macs("tiny", 13, 64, 64)
    assert report.to_dict()["generator_included"] is False


def test_generator_is_none_for_a_model_without_one():
    assert generator_macs(nn.Conv2d(3, 4, 3)) is None


def test_an_operator_without_a_handle_is_named_and_lowers_coverage():
    class Cumulative(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x):
            return torch.cumsum(self.proj(x), dim=-1)

    report = count_flops(Cumulative(), (2, 8), cross_check=False)
    assert "aten::cumsum" in report.uncounted
    assert report.coverage < 1.0
    assert report.macs == 2 * 8 * 8


def test_flops_command_prints_gmac_generator_note_and_cross_check(tiny_embedding_onnx):
    result = CliRunner().invoke(cli, ["flops", str(tiny_embedding_onnx), "--size", "64"])
    assert result.exit_code == 0, result.output
    expected = clay_encoder_macs("tiny", 10, 64, 64) / 1e9
    assert f"{expected:.3f} GMAC per image" in result.output
    assert "NOT included" in result.output and "cross-check" in result.output


def test_flops_command_json_builds_a_model_by_name():
    result = CliRunner().invoke(cli, ["flops", "clay", "--variant", "tiny", "--random-init", "--size", "64", "--json",
                                      "--no-cross-check"])
    assert result.exit_code == 0, result.output
    assert '"coverage": 1.0' in result.output and '"generator_included": false' in result.output


@pytest.mark.slow
def test_clay_base_at_224_matches_the_analytic_78_gmac():
    model = create_model("clay_base", seed=0)
    report = count_flops(model, (1, 10, 224, 224))
    assert report.macs == clay_encoder_macs("base", 10, 224, 224)
    assert report.cross_check_difference < 1e-3 and report.coverage == 1.0


@pytest.mark.slow
def test_clay_large_at_256_is_counted_within_the_time_budget():
    model = create_model("clay_large", seed=0)
    start = time.perf_counter()
    report = count_flops(model, (1, 10, 256, 256), cross_check=False)
    assert time.perf_counter() - start < 60
    assert report.macs == clay_encoder_macs("large", 10, 256, 256)

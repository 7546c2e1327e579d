"""Band-agnostic export: one ONNX file, the band set chosen at run time, for every sensor.

Specification:
* the file's inputs are pixels [B, C, H, W] (C dynamic), wavelengths [C] (µm) and gsd []; the patch
  embedding is one ``trtbench::DynamicPatchEmbed`` node, shipped as an ONNX local function with its
  parameters and TensorRT's plugin attributes, and the file passes ``trtbench check``;
* run in ONNX Runtime on real chips it matches the PyTorch model built for the chosen bands (max |diff|
  <= 1e-4 of the output scale) for Sentinel-2 L1C (13), an L2A subset (10), HLS (6), Landsat (3, 6),
  Sentinel-1 (2) and S1+S2 stacked (15), and agrees with the fixed-band export of the same bands;
* the function body equals conv2d for Clay's and DOFA's conventions;
* bad band choices fail with a clear message (or warn, for wavelengths outside the trained range).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import rasterio
import torch
import torch.nn.functional as F
from cli_helpers import run_cli
from engine_helpers import gpu, run_isolated
from onnx import TensorProto, helper
from rasterio.windows import Window

from trtbench.bands import WavelengthRangeWarning, bind_bands, model_feed, parse_wavelengths
from trtbench.check import audit_onnx
from trtbench.errors import InputError, TrtbenchError
from trtbench.evaluate import evaluate, normalised_tiles
from trtbench.export.dynamic_bands import CLAY_TRAINED_RANGE, export_band_agnostic
from trtbench.export.patch_embed_op import CLAY, DOFA, PatchEmbedParams, attach_function, make_node
from trtbench.export.pipeline import ExportRequest, export_artifact
from trtbench.export.shapes import default_profile, parse_shapes, validate_profile, with_derived_profiles
from trtbench.metadata import read_onnx_metadata
from trtbench.models import create_model

TOLERANCE = 1e-4  # max |artifact - PyTorch| / max |PyTorch|, per output


@pytest.fixture(scope="module")
def any_bands_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clay_tiny (seed 0, the same weights as the conftest's fixed-band tiny_embedding_onnx), band-agnostic."""
    model = create_model("clay_tiny", sensor="sentinel-2-l2a", seed=0)
    return export_band_agnostic(model, tmp_path_factory.mktemp("dynamic") / "clay_any.onnx")


def _write_stack(path: Path, sources: list[tuple[Path, list[int]]], names: list[str], window: Window) -> Path:
    """Chosen bands of real rasters (same grid) as one float32 GeoTIFF named by band, nodata NaN."""
    layers, profile = [], None
    for source, indices in sources:
        with rasterio.open(source) as ds:
            profile = profile or ds.profile
            data = ds.read([i + 1 for i in indices], window=window).astype(np.float32)
            if ds.nodata is not None and not np.isnan(ds.nodata):
                data[data == ds.nodata] = np.nan
            layers.append(data)
            transform = ds.window_transform(window)
    stack = np.concatenate(layers)
    profile.update(count=len(stack), dtype="float32", nodata=float("nan"), width=window.width,
                   height=window.height, transform=transform)
    with rasterio.open(path, "w", **profile) as out:
        out.write(stack)
        out.descriptions = tuple(names)
    return path


@pytest.fixture(scope="module")
def stacked_s1_s2(tmp_path_factory: pytest.TempPathFactory, s1_chip: Path, s2_chip: Path) -> Path:
    """The Sen1Floods11 chip's Sentinel-1 (VV, VH) and Sentinel-2 L1C (13) bands in one 15-band file."""
    names = ["VV", "VH", "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    return _write_stack(tmp_path_factory.mktemp("stack") / "s1_s2.tif",
                        [(s1_chip, [0, 1]), (s2_chip, list(range(13)))], names, Window(0, 0, 512, 512))


@pytest.fixture(scope="module")
def landsat_like_6(tmp_path_factory: pytest.TempPathFactory, s2_chip: Path) -> Path:
    """Sentinel-2 bands at Landsat OLI's six reflective wavelengths, in Landsat order, named as Landsat's."""
    s2_indices = [3, 2, 1, 8, 11, 12]   # B4 red, B3 green, B2 blue, B8A nir, B11 swir16, B12 swir22
    return _write_stack(tmp_path_factory.mktemp("landsat6") / "landsat_like.tif", [(s2_chip, s2_indices)],
                        ["red", "green", "blue", "nir08", "swir16", "swir22"], Window(0, 0, 512, 512))


@pytest.fixture(scope="module")
def s1_small(tmp_path_factory: pytest.TempPathFactory, s1_chip: Path) -> Path:
    """A 128 x 128 window of the Sentinel-1 chip: one tile, for the slower end-to-end paths."""
    return _write_stack(tmp_path_factory.mktemp("s1_small") / "s1_small.tif", [(s1_chip, [0, 1])], ["VV", "VH"],
                        Window(128, 128, 128, 128))


@pytest.fixture(scope="module")
def landsat_crop(tmp_path_factory: pytest.TempPathFactory, landsat_scene: Path) -> Path:
    """A 512 x 512 window of the real Landsat 8 scene (B2, B3, B4 DN), to keep the test short."""
    path = tmp_path_factory.mktemp("landsat3") / "landsat_b234.tif"
    with rasterio.open(landsat_scene) as ds:
        window = Window(768, 768, 512, 512)
        profile = ds.profile | {"width": 512, "height": 512, "transform": ds.window_transform(window)}
        with rasterio.open(path, "w", **profile) as out:
            out.write(ds.read(window=window))
    return path


# --- the graph ----------------------------------------------------------------------------------------------

def test_graph_takes_pixels_wavelengths_and_gsd_with_a_runtime_band_count(any_bands_onnx):
    model = onnx.load(str(any_bands_onnx))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert list(dims) == ["pixels", "wavelengths", "gsd"]
    assert dims["pixels"][1] == dims["wavelengths"][0] == "bands"
    assert dims["gsd"] == []
    assert not [n for n in model.graph.node if n.op_type == "Conv"], "a Conv would need a build-time band count"
    meta = read_onnx_metadata(any_bands_onnx)
    assert (meta.band_mode, meta.inputs, meta.wavelength_convention) == ("dynamic", ["pixels", "wavelengths", "gsd"],
                                                                          "clay")
    assert meta.wavelength_range == CLAY_TRAINED_RANGE and meta.max_bands >= 15


def test_patch_embedding_is_one_custom_node_shipped_as_a_local_function(any_bands_onnx):
    model = onnx.load(str(any_bands_onnx))
    nodes = [n for n in model.graph.node if n.domain == "trtbench"]
    assert [n.op_type for n in nodes] == ["DynamicPatchEmbed"]
    attrs = {a.name: (a.type, helper.get_attribute_value(a)) for a in nodes[0].attribute}
    A = onnx.AttributeProto
    assert attrs == {"kernel_size": (A.INT, 8), "stride": (A.INT, 8), "padding": (A.INT, 0),
                     "weight_scale": (A.FLOAT, pytest.approx(0.02)), "bias_scale": (A.FLOAT, 1.0),
                     "plugin_version": (A.STRING, b"1"), "plugin_namespace": (A.STRING, b"trtbench")}
    assert [(f.domain, f.name) for f in model.functions] == [("trtbench", "DynamicPatchEmbed")]
    assert {o.domain: o.version for o in model.opset_import}["trtbench"] == 1
    body = {n.op_type for n in model.functions[0].node}
    assert {"Reshape", "Transpose", "MatMul"} <= body and "Conv" not in body


def test_trtbench_check_passes_the_artifact_and_audits_the_function_body(any_bands_onnx):
    audit = audit_onnx(any_bands_onnx)
    assert audit.passed(), [str(f) for f in audit.by("error")]
    assert not audit.by("warning") and not audit.plugins   # a local function, not an unknown op
    assert any("local function trtbench::DynamicPatchEmbed" in f.message for f in audit.by("info"))


# --- the function body is the operator -----------------------------------------------------------------------

def _single_node_session(params: PatchEmbedParams, elem_type: int) -> ort.InferenceSession:
    k = params.kernel_size
    graph = helper.make_graph(
        [make_node(["pixels", "weight", "bias"], "out", params)], "dynamic_patch_embed",
        [helper.make_tensor_value_info("pixels", elem_type, ["B", "C", "H", "W"]),
         helper.make_tensor_value_info("weight", elem_type, ["D", "C", k, k]),
         helper.make_tensor_value_info("bias", elem_type, ["D"])],
        [helper.make_tensor_value_info("out", elem_type, ["B", "D", "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    attach_function(model)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("params, height, width", [(CLAY, 40, 24), (DOFA, 64, 48), (DOFA, 62, 50)],
                         ids=["clay", "dofa", "dofa-uneven"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["fp32", "fp16"])
def test_function_body_equals_conv2d_for_clay_and_dofa_conventions(params, height, width, dtype):
    session = _single_node_session(params, TensorProto.FLOAT if dtype == np.float32 else TensorProto.FLOAT16)
    rng = np.random.default_rng(7)
    k = params.kernel_size
    for bands in (1, 2, 13, 16):
        pixels = rng.standard_normal((2, bands, height, width)).astype(dtype)
        weight = rng.standard_normal((24, bands, k, k)).astype(dtype)
        bias = rng.standard_normal(24).astype(dtype)
        out = session.run(None, {"pixels": pixels, "weight": weight, "bias": bias})[0]
        t = {name: torch.from_numpy(v.astype(np.float64)) for name, v in (("x", pixels), ("w", weight), ("b", bias))}
        expected = F.conv2d(t["x"], t["w"] * params.weight_scale, t["b"] * params.bias_scale,
                            stride=params.stride, padding=params.padding).numpy()
        assert out.shape == expected.shape and out.dtype == dtype
        scale = np.abs(expected).max()
        assert np.abs(out.astype(np.float64) - expected).max() <= (1e-5 if dtype == np.float32 else 2e-3) * scale


def test_stride_other_than_the_patch_is_refused():
    with pytest.raises(TrtbenchError, match="stride == kernel_size"):
        make_node(["x", "w", "b"], "y", PatchEmbedParams(16, 8, 0, 0.02, 1.0))


# --- one file, every sensor, real chips ---------------------------------------------------------------------

SENSOR_CASES = {
    "s2-l1c-13": ("s2_chip", dict(sensor="sentinel-2-l1c"), 13),
    "s2-l2a-subset-10": ("s2_chip", dict(sensor="sentinel-2-l2a"), 10),
    "hls-6": ("s2_chip", dict(sensor="hls-s30", bands=["B02", "B03", "B04", "B8A", "B11", "B12"]), 6),
    "landsat-3": ("landsat_crop", dict(sensor="landsat-c2l1", bands=["B2", "B3", "B4"]), 3),
    "landsat-6": ("landsat_like_6", dict(sensor="landsat-c2l2-sr"), 6),
    "s1-2": ("s1_chip", dict(sensor="sentinel-1-rtc"), 2),
    "s1+s2-15": ("stacked_s1_s2", dict(sensor="sentinel-1-rtc+sentinel-2-l1c"), 15),
}


@pytest.mark.parametrize("case", list(SENSOR_CASES))
def test_one_file_matches_pytorch_for_every_sensor(any_bands_onnx, request, case):
    chip, choice, bands = SENSOR_CASES[case]
    result = evaluate(any_bands_onnx, [request.getfixturevalue(chip)], tolerance=TOLERANCE, progress=False, **choice)
    assert len(result.metadata["bands"]) == bands
    assert result.tiles >= 4
    for parity in result.parity:
        assert parity.rel_max <= TOLERANCE, f"{case} {parity.output}: {parity.rel_max:.2e}"
    assert result.passed


def test_agrees_with_the_fixed_band_export_of_the_same_bands(any_bands_onnx, tiny_embedding_onnx, s2_chip):
    fixed_meta = read_onnx_metadata(tiny_embedding_onnx)   # clay_tiny seed 0, Sentinel-2 L2A, folded Conv
    meta = bind_bands(read_onnx_metadata(any_bands_onnx), sensor=fixed_meta.sensor, bands=fixed_meta.bands)
    pixels = np.stack(list(normalised_tiles(meta, [s2_chip], 256)))
    fixed = ort.InferenceSession(str(tiny_embedding_onnx), providers=["CPUExecutionProvider"])
    dynamic = ort.InferenceSession(str(any_bands_onnx), providers=["CPUExecutionProvider"])
    expected = fixed.run(None, {"pixels": pixels})
    got = dynamic.run(None, model_feed(meta, pixels))
    for name, a, b in zip(meta.outputs, expected, got):
        assert np.abs(a - b).max() <= TOLERANCE * np.abs(a).max(), name


def test_torch_backend_runs_the_band_agnostic_interface(any_bands_onnx, s1_small):
    result = evaluate(any_bands_onnx, [s1_small], backend="torch", sensor="sentinel-1-rtc", tile=128,
                      tolerance=TOLERANCE, progress=False)
    assert result.passed and result.backend["backend"] == "torch"


def test_eval_cli_chooses_the_sensor(capsys, any_bands_onnx, s1_small):
    result = run_cli(capsys, "eval", "--engine", any_bands_onnx, "--data", s1_small, "--sensor", "sentinel-1-rtc",
                     "--tile", "128")
    assert result.code == 0, result.err
    assert "2 bands of sentinel-1-rtc" in result.out and "PARITY OK" in result.out


# --- bad band choices ---------------------------------------------------------------------------------------

def test_wavelength_count_must_match_band_count(any_bands_onnx):
    meta = read_onnx_metadata(any_bands_onnx)
    with pytest.raises(InputError, match="3 values for 2 bands"):
        bind_bands(meta, sensor="sentinel-1-rtc", wavelengths=[3.5, 4.0, 0.6])
    with pytest.raises(InputError, match="do not have the 10 bands"):
        model_feed(meta, np.zeros((1, 3, 64, 64), np.float32))


def test_wavelengths_outside_the_trained_range_warn_but_run(any_bands_onnx):
    meta = read_onnx_metadata(any_bands_onnx)
    with pytest.warns(WavelengthRangeWarning, match="VV 5.405 µm"):
        bound = bind_bands(meta, sensor="sentinel-1-rtc", wavelengths=[5.405, 5.405])  # DOFA's S1 convention
    assert bound.wavelengths == [5.405, 5.405] and bound.mean == [-12.113, -18.673]


def test_wavelengths_in_nanometres_are_refused(any_bands_onnx):
    with pytest.raises(TrtbenchError, match="not nm"):
        bind_bands(read_onnx_metadata(any_bands_onnx), wavelengths=[665, 560, 490])


def test_wavelengths_alone_describe_pre_normalised_data(any_bands_onnx):
    bound = bind_bands(read_onnx_metadata(any_bands_onnx), wavelengths=parse_wavelengths("0.665, 0.56,0.49"))
    assert (bound.sensor, bound.num_bands, bound.mean, bound.std) == ("custom", 3, [0.0] * 3, [1.0] * 3)
    with pytest.raises(InputError, match="comma-separated list of numbers"):
        parse_wavelengths("red,green")


def test_more_bands_than_the_graph_takes_are_refused(any_bands_onnx):
    meta = read_onnx_metadata(any_bands_onnx).with_(max_bands=4)
    with pytest.raises(InputError, match="5 bands chosen; the artifact takes 1 to 4"):
        bind_bands(meta, sensor="sentinel-2-l2a", bands=["B02", "B03", "B04", "B08", "B11"])


def test_fixed_band_artifact_refuses_other_bands(tiny_embedding_onnx):
    meta = read_onnx_metadata(tiny_embedding_onnx)
    assert bind_bands(meta, sensor=meta.sensor, bands=meta.bands) == meta
    with pytest.raises(InputError, match="re-export the model with --dynamic-bands"):
        bind_bands(meta, sensor="sentinel-1-rtc")


def test_unknown_sensor_exits_with_a_clear_message(capsys, any_bands_onnx, s2_chip):
    result = run_cli(capsys, "eval", "--engine", any_bands_onnx, "--data", s2_chip, "--sensor", "sentinel-9")
    assert result.code == 2
    assert "unknown sensor 'sentinel-9'" in result.err and "sentinel-1-rtc+sentinel-2-l1c" in result.err


def test_missing_plugin_library_is_reported_before_any_tensorrt_work(capsys, any_bands_onnx, tmp_path):
    result = run_cli(capsys, "export", any_bands_onnx, "--format", "engine", "--plugin", tmp_path,
                     "-o", tmp_path / "any.engine")
    assert result.code == 2
    assert "no libtrtbench_plugins.so" in result.err and "cmake" in result.err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("source, precision, problem", [
    ("onnx", "fp32", "already exported"),
    ("unet", "fp32", "cannot be band-agnostic"),
    ("clay", "fp16", "fp32 only"),
])
def test_dynamic_bands_export_refuses_what_it_cannot_do(tmp_path, any_bands_onnx, source, precision, problem):
    models = {"onnx": lambda: any_bands_onnx, "clay": lambda: create_model("clay_tiny", seed=0),
              "unet": lambda: create_model("unet_small", task="segmentation", head="unet", num_classes=2)}
    request = ExportRequest(precision=precision, dynamic_bands=True)
    with pytest.raises(TrtbenchError, match=problem):
        export_artifact(models[source](), tmp_path / "out.onnx", request)
    assert not list(tmp_path.iterdir())


# --- engine profiles get a band dimension -------------------------------------------------------------------

def test_engine_profile_has_a_band_range_and_derives_the_wavelengths_profile(any_bands_onnx):
    meta = read_onnx_metadata(any_bands_onnx)
    [pixels] = parse_shapes("min=1x2x64x64,opt=8x10x256x256,max=16x15x512x512", meta.inputs)
    validate_profile(pixels, meta, [None, None, None, None])
    wavelengths = with_derived_profiles([pixels], meta)[-1]
    assert (wavelengths.name, wavelengths.min, wavelengths.opt, wavelengths.max) == ("wavelengths", (2,), (10,), (15,))
    default = default_profile(meta)
    assert default.min[1] == 1 and default.opt[1] == meta.num_bands and default.max[1] >= 15
    with pytest.raises(InputError, match="takes 1 to"):
        validate_profile(parse_shapes(f"min=1x2x64x64,opt=1x2x64x64,max=1x{meta.max_bands + 1}x64x64",
                                      meta.inputs)[0], meta)
    with pytest.raises(InputError, match="follows from 'pixels'"):
        validate_profile(parse_shapes("wavelengths:min=1,opt=2,max=3", meta.inputs)[0], meta)


# --- GPU: TensorRT engines of the band-agnostic file ----------------------------------------------------------
# Which implementation ran is visible in the sidecar: `builder.plugin_layers` names the network's plugin layers
# after parsing. Without a plugin the parser inlines the DynamicPatchEmbed function body (no plugin layer); with
# one registered, TensorRT (>= 10.7) takes the plugin over the body. Plugins are registered in a fresh process
# each (engine_helpers.run_isolated), so the no-plugin test cannot pick up one registered by another test.

ENGINE_SHAPES = "min=1x2x256x256,opt=2x13x256x256,max=2x15x256x256"


def _engine_matches_onnxruntime(onnx_path: Path, engine: Path, stacked: Path) -> None:
    """One engine, two band sets chosen at run time (S1 only, S1+S2), each equal to ONNX Runtime's output
    within fp32's tolerance (fp32 engines are built without TF32)."""
    from trtbench.backends import runner_for_artifact

    for bands in (["VV", "VH"], None):
        meta = bind_bands(read_onnx_metadata(onnx_path), sensor="sentinel-1-rtc+sentinel-2-l1c", bands=bands)
        pixels = np.stack(list(normalised_tiles(meta, [stacked], 256))[:2])
        with runner_for_artifact(onnx_path, "onnxruntime-cpu") as ort_runner, \
                runner_for_artifact(engine, "tensorrt") as trt_runner:
            expected, got = ort_runner.infer(model_feed(meta, pixels)), trt_runner.infer(model_feed(meta, pixels))
        for name in meta.outputs:
            assert np.abs(expected[name] - got[name]).max() <= TOLERANCE * np.abs(expected[name]).max(), name


@pytest.mark.gpu
@gpu
def test_engine_without_plugin_runs_the_function_body_at_two_band_counts(tmp_path, any_bands_onnx, stacked_s1_s2):
    from trtbench.engine_meta import read_sidecar

    request = ExportRequest(format="engine", shapes=ENGINE_SHAPES, opt_level=0)
    [engine] = export_artifact(any_bands_onnx, tmp_path / "any.engine", request)
    assert read_sidecar(engine).builder["plugin_layers"] == []      # the function body, inlined
    _engine_matches_onnxruntime(any_bands_onnx, engine, stacked_s1_s2)


def _plugin_engine_in_a_fresh_process(register: str, plugins: list[str], onnx_path: Path, engine: Path,
                                      stacked: Path) -> list[str]:
    """Build and check the band-agnostic engine with a plugin registered; the plugin layers it recorded."""
    out = run_isolated(f"""
        import json, os
        os.environ["TRITON_INTERPRET"] = "0"
        from pathlib import Path
        {register}
        from trtbench.engine_meta import read_sidecar
        from trtbench.export.pipeline import ExportRequest, export_artifact
        from test_dynamic_bands import ENGINE_SHAPES, _engine_matches_onnxruntime
        request = ExportRequest(format="engine", shapes=ENGINE_SHAPES, opt_level=0, plugins={plugins!r})
        [engine] = export_artifact(Path({str(onnx_path)!r}), Path({str(engine)!r}), request)
        _engine_matches_onnxruntime(Path({str(onnx_path)!r}), engine, Path({str(stacked)!r}))
        print(json.dumps(read_sidecar(engine).builder["plugin_layers"]))
    """)
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.gpu
@gpu
@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("nvcc") is None,
                    reason="building the plugin needs cmake and nvcc")
def test_cpp_plugin_takes_precedence_over_the_function_body_at_two_band_counts(tmp_path, any_bands_onnx,
                                                                               stacked_s1_s2):
    import subprocess

    plugin_dir = Path(__file__).resolve().parents[1] / "kernels" / "plugin"
    done = subprocess.run(["cmake", "-S", plugin_dir, "-B", tmp_path / "build"], capture_output=True, text=True)
    if done.returncode != 0 and "TensorRT headers not found" in done.stderr:
        pytest.skip("TensorRT headers not found: set TensorRT_ROOT to a TensorRT install with include/")
    assert subprocess.run(["cmake", "--build", tmp_path / "build", "-j2"]).returncode == 0
    layers = _plugin_engine_in_a_fresh_process("", [str(tmp_path / "build")], any_bands_onnx,
                                               tmp_path / "any.engine", stacked_s1_s2)
    assert len(layers) == 1, layers                                   # the one DynamicPatchEmbed node


@pytest.mark.gpu
@gpu
def test_python_aot_plugin_takes_precedence_over_the_function_body(tmp_path, any_bands_onnx, stacked_s1_s2):
    pytest.importorskip("triton", reason="the Python AOT plugin compiles the Triton kernel: needs triton")
    layers = _plugin_engine_in_a_fresh_process(
        "from trtbench.kernels.trt_python_plugin import register_python_plugin; register_python_plugin()", [],
        any_bands_onnx, tmp_path / "any.engine", stacked_s1_s2)
    assert len(layers) == 1, layers


def test_bench_runs_the_band_agnostic_artifact_on_the_chosen_sensor(any_bands_onnx):
    from trtbench.bench import ModelSpec, TimingConfig, make_feeds, open_target, run_bench
    from trtbench.bench.compare import OK

    with open_target(str(any_bands_onnx), ModelSpec(sensor="sentinel-1-rtc")) as target:
        assert target.metadata.bands == ["VV", "VH"]
        feeds = make_feeds(target.metadata, [2], 32)
        assert set(feeds[0]) == {"pixels", "wavelengths", "gsd"}
        result = run_bench(target, backends=("torch", "onnxruntime"), size=32, feeds=feeds, count=False,
                           config=TimingConfig(warmup=1, min_iters=2, min_time=0.0))
    assert [b.status for b in result.backends] == [OK, OK], [b.reason for b in result.backends]

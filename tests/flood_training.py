"""The training acceptance every model family meets (issues 5 and 14), written once: one epoch on 64-pixel tiles
of the real Sen1Floods11 chip, then the best checkpoint through `trtbench export` and `trtbench check`, and eval
of the artifact against the checkpoint on the held-out tiles at each precision asked for."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import run_cli
from test_data_tiles import SENSOR, write_floods_tiles

from trtbench.metadata import ModelMetadata, read_onnx_metadata

FLOOD_SENSOR = SENSOR   # the tiles stack S1 then S2 L1C


def small_flood_tiles(data_dir: Path, root: Path) -> Path:
    """64-pixel tiles of the real flood chip (S1 + S2 and the hand label); 8/2/2 per split keep the runs short."""
    splits = write_floods_tiles(data_dir, root, tile=64)
    for split, count in (("train", 8), ("val", 2), ("test", 2)):
        (root / "splits" / f"{split}.txt").write_text("\n".join(splits[split][:count]) + "\n")
    return root


def train_one_epoch(capsys, model: str, tiles: Path, out: Path, *options: str) -> Path:
    """`trtbench train MODEL` for one epoch on the tiles (``options``: bands, head, regime, checkpoint ...);
    returns the best checkpoint."""
    trained = run_cli(capsys, "train", model, "--dataset", "chips", "--data-root", tiles, "--class-names",
                      "land,water", *options, "--epochs", "1", "--batch-size", "8", "--input-size", "64", "--quiet",
                      "-o", out)
    assert trained.code == 0, trained.err
    return out / "best.ckpt"


def export_check_eval(capsys, best: Path, tiles: Path, folder: Path,
                      precisions: tuple[str, ...] = ()) -> ModelMetadata:
    """Export ``best`` to fp32 ONNX, pass the TensorRT audit, and eval it on the test tiles against the checkpoint:
    fp32 within 1e-4 of the output scale and 0.001 mIoU; ``precisions`` ("fp16", "int8") within their bounds.
    Returns the artifact's metadata for the caller's own checks."""
    from trtbench.evaluate import evaluate
    from trtbench.export.precision import convert_fp16, quantize_int8

    onnx_path = folder / "floods.onnx"
    exported = run_cli(capsys, "export", best, "-o", onnx_path)
    assert exported.code == 0, exported.err
    checked = run_cli(capsys, "check", onnx_path)
    assert checked.code == 0, checked.out + checked.err
    names = (tiles / "splits" / "test.txt").read_text().split()
    images = [tiles / "images" / f"{n}.tif" for n in names]
    labels = [tiles / "masks" / f"{n}.tif" for n in names]

    def run(artifact):
        return evaluate(artifact, images, labels=labels, reference=best, tile=64, progress=False)

    fp32 = run(onnx_path)
    assert fp32.tolerance == 1e-4 and fp32.passed, [p.rel_max for p in fp32.parity]
    assert abs(fp32.task_delta()["miou"]) <= 0.001
    if "fp16" in precisions:
        fp16 = run(convert_fp16(onnx_path, folder / "fp16.onnx"))
        assert fp16.tolerance == 1e-2 and fp16.passed
    if "int8" in precisions:
        int8 = quantize_int8(onnx_path, folder / "int8.onnx", images, samples=2, tile=64)
        assert read_onnx_metadata(int8).precision == "int8" and run(int8).passed
    return read_onnx_metadata(onnx_path)

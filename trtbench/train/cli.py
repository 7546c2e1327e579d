"""``trtbench train`` and ``trtbench report`` (leaderboard outputs from training runs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cli_options import check_outputs, emit_json, human_output, json_option
from ..data.published import SPLIT_SCHEMES
from ..errors import TrtbenchError
from ..fileio import check_writable

if TYPE_CHECKING:   # imported lazily below: `trtbench --help` imports no ML package
    from ..adapt.layout import JointSpec
    from ..data import DataBundle
    from ..models.lora import LoraConfig


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _numbers(value: str | None, kind: type, option: str) -> list | None:
    try:
        return [kind(v) for v in _split(value)] if value else None
    except ValueError:
        raise TrtbenchError(f"{option} takes comma-separated numbers, got '{value}'", f"e.g. {option} 0,1,2") from None


@click.command()
@click.argument("model")
@click.option("--variant", help="Clay size (v1.5, v1, small, tiny) or UNet size (base, small).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Pretrained encoder (official Clay .ckpt).")
@click.option("--random-init", is_flag=True,
              help="Clay: start from a seeded random encoder instead of --checkpoint (tests; a frozen random "
                   "encoder learns nothing). UNets always start from random weights.")
@click.option("--dataset", required=True,
              help="sen1floods11, hls_burn_scars, mados, ai4smallfarms, biomassters, or chips (generic folder).")
@click.option("--data-root", required=True, type=click.Path(), help="Extracted dataset folder (layouts: trtbench.data.published).")
@click.option("--modalities", help="Sources to stack, e.g. s1,s2 for Sen1Floods11 (default: the optical one).")
@click.option("--bands", help="Comma-separated band names to keep (default: every band of the sources).")
@click.option("--aux-modalities",
              help="TTT-MMR (MMEarth-Bench): modalities available at test time to reconstruct, one decoder each, "
                   "trained jointly with the task (e.g. s1; an input modality may be one too). The checkpoint then "
                   "adapts at test time: `trtbench eval --engine RUN/best.ckpt --ttt-steps 5 --data DATA_ROOT`.")
@click.option("--aux-weights", help="TTT-MMR: loss weight per aux modality, comma-separated (default 1 each); the "
                                    "loss is the task loss plus the mean of the weighted reconstruction losses.")
@click.option("--sensor", help="chips: sensor table of the images, several joined with + (sentinel-1-rtc+sentinel-2-l1c).")
@click.option("--wavelengths", help="chips: centre wavelength per image band in µm, instead of --sensor.")
@click.option("--band-names", help="chips: names for --wavelengths (default: the GeoTIFF band descriptions).")
@click.option("--num-classes", type=click.IntRange(min=2), help="chips: classes in the masks (default: inferred from training masks).")
@click.option("--class-names", help="chips: comma-separated class names.")
@click.option("--task", type=click.Choice(["segmentation", "regression"]), default="segmentation", show_default=True,
              help="chips: what the masks hold (a labels.csv instead of masks/ means classification).")
@click.option("--nodata", type=float, help="chips: image no-data value where the files declare none.")
@click.option("--ignore-index", type=int, default=-1, show_default=True, help="Label value for no data.")
@click.option("--head", help="Clay head: upernet (default), fcn; linear for classification. UNet: none (own decoder).")
@click.option("--regime", type=click.Choice(["frozen", "fewshot", "full", "lora"]), default="full", show_default=True,
              help="frozen: head only; fewshot: --fraction of the chips; full: everything; lora: the encoder frozen "
                   "with low-rank adapters on its blocks' linears (merged into the weights at export), head trained.")
@click.option("--lora-rank", type=click.IntRange(min=1), help="LoRA: rank r of the adapters (default 8).")
@click.option("--lora-alpha", type=click.FloatRange(min=0, min_open=True),
              help="LoRA: the update is scaled by alpha / rank (default 8).")
@click.option("--lora-dropout", type=click.FloatRange(0, 1, max_open=True),
              help="LoRA: dropout on the adapters' input while training (default 0).")
@click.option("--lora-targets",
              help="LoRA: comma-separated linears of a transformer block to adapt, by path or its trailing part "
                   "(Clay: to_qkv,to_out,net.1,net.3; DOFA/ViT: qkv,proj,fc1,fc2). Default: every linear of a "
                   "block (attention qkv and output, MLP).")
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True, help="Few-shot share of training chips.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Learning rate (ignored with --lr-search).")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.05, show_default=True)
@click.option("--warmup-epochs", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="Early stopping patience (epochs).")
@click.option("--input-size", "crop", type=click.IntRange(min=1), default=224, show_default=True, help="Training crop edge in pixels.")
@click.option("--class-weights", help="'auto' (inverse frequency) or one weight per class, comma-separated.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds (GEO-Bench: at least 5).")
@click.option("--lr-search", type=click.IntRange(min=0), default=0, show_default=True, help="Optuna trials to pick the LR (0: off).")
@click.option("--split", "split_scheme", type=click.Choice(SPLIT_SCHEMES), default="official", show_default=True,
              help="official: the release's splits (PANGAEA's where the release has none, e.g. HLS Burn Scars); "
                   "seeded: a seeded split (--split-seed). Reports record which.")
@click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of generated train/val/test splits.")
@click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True, help="Data loader processes.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Experiment folder (runs/NAME).")
@json_option("Write the experiment record (experiment.json's content) to FILE ('-': standard output).")
def train(model: str, variant: str | None, checkpoint: str | None, random_init: bool, dataset: str, data_root: str,
          modalities: str | None, bands: str | None, aux_modalities: str | None, aux_weights: str | None,
          sensor: str | None, wavelengths: str | None,
          band_names: str | None, num_classes: int | None, class_names: str | None, task: str, nodata: float | None,
          ignore_index: int, head: str | None, regime: str, lora_rank: int | None, lora_alpha: float | None,
          lora_dropout: float | None, lora_targets: str | None, fraction: float, epochs: int, batch_size: int, lr: float,
          weight_decay: float, warmup_epochs: int, patience: int, crop: int, class_weights: str | None, seeds: str,
          lr_search: int, split_scheme: str, split_seed: int, num_workers: int, quiet: bool, output: str, json_path: str | None) -> None:
    """Fine-tune MODEL (clay, unet or a registry name) on a dataset; writes OUTPUT/best.ckpt for `trtbench export`."""
    from ..data import DataOptions, load_data
    from ..models import resolve_model_name
    from ..models.registry import get_spec
    from .experiment import auto_class_weights, run_experiment
    from .run import TrainConfig

    check_writable(output, "folder", option="-o")   # before the data is read, not after the training
    check_outputs((json_path, "--json"))
    name = resolve_model_name(model, variant)
    _check_weights(name, checkpoint, random_init)
    lora = _lora_options(lora_rank, lora_alpha, lora_dropout, lora_targets)
    joint = _joint_options(dataset, modalities, bands, aux_modalities, aux_weights, split_scheme, split_seed)
    bundle = load_data(DataOptions(
        dataset, Path(data_root), modalities=joint.stacked if joint else _split(modalities), bands=_split(bands),
        sensor=sensor,
        wavelengths=_numbers(wavelengths, float, "--wavelengths"), band_names=_split(band_names),
        num_classes=num_classes, class_names=_split(class_names), task=task, nodata=nodata,
        ignore_index=ignore_index, split_seed=split_seed, split=split_scheme,
        fixed_channels=get_spec(name).facts.wavelength_units is None))   # a UNet needs no --sensor/--wavelengths
    weights = auto_class_weights(bundle) if class_weights == "auto" else _numbers(class_weights, float, "--class-weights")
    if weights and len(weights) != bundle.num_classes:
        raise TrtbenchError(f"{len(weights)} class weights for {bundle.num_classes} classes", "give one per class")
    config = TrainConfig(name, checkpoint, head, regime, fraction, epochs, batch_size, lr, weight_decay, warmup_epochs,
                         patience, crop, tuple(weights) if weights else None,
                         tuple(_numbers(seeds, int, "--seeds") or ()), lr_search, num_workers, not quiet, lora,
                         joint)
    echo = human_output(json_path)
    echo(f"{name} on {bundle.name} ({_bands_read(bundle, joint)}): "
         + ", ".join(f"{s} {len(d)} chips" for s, d in bundle.splits.items()))
    record = run_experiment(config, bundle, output)
    _print_summary(record, Path(output), echo)
    emit_json(json_path, lambda: record)


def _check_weights(name: str, checkpoint: str | None, random_init: bool) -> None:
    """A foundation-model encoder (Clay, DOFA) must say where its weights come from, as export and bench do:
    without a checkpoint it would fine-tune a random encoder (frozen, in the frozen regime) under its name.
    Whole networks (UNet) and the ViT/ResNet baselines (``from_scratch``) are trained from scratch anyway."""
    from ..models.registry import ENCODER, get_spec

    if checkpoint and random_init:
        raise TrtbenchError("both --checkpoint and --random-init given", "pass one of them")
    facts = get_spec(name).facts
    if facts.kind == ENCODER and not facts.from_scratch and not (checkpoint or random_init):
        raise TrtbenchError(f"say where {name}'s encoder weights come from",
                            "pass --checkpoint with the official pretrained weights, or --random-init to train "
                            "from a seeded random encoder")


def _bands_read(bundle: DataBundle, joint: JointSpec | None) -> str:
    """The model's bands, and with --aux-modalities what each decoder reconstructs."""
    if joint is None:
        return ", ".join(bundle.sensor.band_names)
    from ..adapt.layout import bundle_layout

    layout = bundle_layout(joint, bundle)
    aux = "; ".join(f"{m}: {', '.join(b)}" for m, b in layout.target_bands.items())
    return f"{', '.join(bundle.sensor.band_names[: layout.inputs])}; reconstructs {aux}"


def _joint_options(dataset: str, modalities: str | None, bands: str | None, aux: str | None,
                   weights: str | None, split: str, split_seed: int) -> JointSpec | None:
    """The TTT-MMR request of ``--aux-modalities``/``--aux-weights``; None when not asked for."""
    from ..adapt.layout import joint_spec

    if aux is None:
        if weights is not None:
            raise TrtbenchError("--aux-weights without --aux-modalities", "add --aux-modalities, or drop --aux-weights")
        return None
    names = _split(aux)
    if not names:
        raise TrtbenchError("--aux-modalities is empty", "name modalities, e.g. --aux-modalities s1")
    if bands:
        raise TrtbenchError("--bands cannot be combined with --aux-modalities (each modality is read whole, as "
                            "its decoder reconstructs it)", "drop --bands, or drop --aux-modalities")
    return joint_spec(dataset, _split(modalities), names, _numbers(weights, float, "--aux-weights"), split, split_seed)


def _lora_options(rank: int | None, alpha: float | None, dropout: float | None,
                  targets: str | None) -> LoraConfig | None:
    """The LoRA configuration the options ask for (unset ones at their defaults); None when none is given."""
    from ..models.lora import LoraConfig

    if rank is None and alpha is None and dropout is None and targets is None:
        return None
    default = LoraConfig()
    names = _split(targets)
    if targets is not None and not names:
        raise TrtbenchError("--lora-targets is empty", "name linears, e.g. --lora-targets qkv,proj, or drop it")
    return LoraConfig(rank or default.rank, default.alpha if alpha is None else alpha,
                      default.dropout if dropout is None else dropout, tuple(names or ()))


def _print_summary(record: dict, output: Path, echo) -> None:
    count = record["trainable_parameters"]
    if count["encoder_parameters"]:
        lora = record["lora"]
        how = f" (LoRA rank {lora['rank']}, alpha {lora['alpha']:g} on {lora['adapted_linears']} linears: " \
              f"{', '.join(lora['targets'])})" if lora else ""
        echo(f"trainable parameters: {count['trainable']:,}; encoder {count['encoder_trainable']:,} of "
             f"{count['encoder_parameters']:,} ({100 * count['encoder_fraction']:.3g} %){how}, head "
             f"{count['head_trainable']:,}")
    else:
        echo(f"trainable parameters: {count['trainable']:,}")
    monitor = record["runs"][0]["monitor"]
    for run in record["runs"]:
        echo(f"  seed {run['seed']}: lr {run['lr']:.3g}, best epoch {run['best_epoch']}, "
                   f"val {monitor} {run['best_val']:.4f}, test {monitor} {run['test'][monitor]:.4f}")
    stat = record["summary"][monitor]
    echo(f"test {monitor}: {stat['mean']:.4f} ± {stat['std']:.4f} over {stat['n']} seed(s)")
    echo(f"wrote {output / 'best.ckpt'} (seed {record['best_seed']}); next: "
               f"trtbench export {output / 'best.ckpt'} -o model.onnx")


@click.command()
@click.argument("runs", type=click.Path(file_okay=False))
@click.option("--geobench", "csv_path", type=click.Path(),
              help="results_and_parameters.csv to write (default: RUNS/results_and_parameters.csv); "
                   "additional_info.json, per_class.md and accuracy_vs_gflops.png go beside it.")
@click.option("--no-plot", is_flag=True, help="Skip the accuracy-vs-GFLOPs plot.")
@click.option("--compare", "compare", type=click.Path(),
              help="A `trtbench compare` output folder: the backend, precision, artifact hash and measurements of "
                   "every cell run on these experiments' best.ckpt (or an artifact exported from it) go into "
                   "<csv name>_deployment.csv and trtbench_details.json (the GEO-Bench CSV takes no extra column).")
@json_option("Write what was written (paths, counts, warnings) as JSON to FILE ('-': standard output).")
def report(runs: str, csv_path: str | None, no_plot: bool, compare: str | None, json_path: str | None) -> None:
    """Leaderboard outputs (GEO-Bench CSV, additional_info.json, per-class table, plot) from training runs."""
    from .deployment import load_cells
    from .leaderboard import find_experiments, write_report

    find_experiments(runs)   # a missing or empty RUNS is the mistake to report, not its unwritable default CSV
    if compare is not None:
        load_cells(compare)  # a wrong --compare stops here, before any output is written
    csv_path = csv_path or str(Path(runs) / "results_and_parameters.csv")
    check_writable(csv_path, option="--geobench", suffixes=(".csv",))   # the other outputs go beside it
    check_outputs((json_path, "--json"))
    result = write_report(runs, csv_path, plot=not no_plot, compare=compare)
    echo = human_output(json_path)
    echo(f"{result['experiments']} experiment(s), {result['rows']} row(s):")
    for kind, path in result["outputs"].items():
        echo(f"  {kind}: {path}")
    for warning in result["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    emit_json(json_path, lambda: result)

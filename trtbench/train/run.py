"""One training run: one seed, one learning rate, from a fresh model to ``best.ckpt`` and ``result.json``.

A run folder holds Lightning's ``metrics.csv`` (every logged value per epoch), its own checkpoints
(``checkpoints/best-*.ckpt`` and ``last.ckpt``) and ``best.ckpt`` written with
:func:`trtbench.models.save_model`: the best epoch's weights plus the metadata (bands, wavelengths,
normalization, head, classes, training provenance) that ``trtbench export best.ckpt`` needs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from ..adapt.layout import JointSpec, StackLayout, bundle_layout
from ..adapt.reconstruction import DECODER, TTT_KEY, build_decoders, save_joint
from ..data import DataBundle
from ..data.check import TRAIN_SAMPLE, check_bundle
from ..errors import TrtbenchError
from ..fileio import atomic_output
from ..metadata import ModelMetadata
from ..models import create_model, save_model
from ..models.lora import LORA_KEY, LoraConfig, adapters, add_adapters
from ..models.registry import ENCODER, MODELS
from .datamodule import GeoDataModule
from .module import MONITOR, GeoTask, JointTask

REGIMES = ("frozen", "fewshot", "full", "lora")
DATA_CHECK_FILE = "data_check.json"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs besides the data; recorded in every result for the leaderboard."""

    model: str                          # registry name, e.g. clay_v1_5, clay_tiny, unet
    checkpoint: str | None = None       # pretrained encoder (official Clay .ckpt)
    head: str | None = None             # Clay default: upernet; the UNet has its own decoder
    regime: str = "full"                # frozen | fewshot | full | lora
    fraction: float = 1.0               # few-shot share of the training chips
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    patience: int = 5                   # early stopping, in epochs without improvement
    crop: int = 224                     # training crop edge = the model's input size
    class_weights: tuple[float, ...] | None = None
    seeds: tuple[int, ...] = (0,)
    lr_search: int = 0                  # Optuna trials (0: use lr as given)
    num_workers: int = 0
    progress: bool = True
    lora: LoraConfig | None = None      # regime lora: rank, alpha, dropout, targets (None: the defaults)
    joint: JointSpec | None = None      # TTT-MMR: input and auxiliary (reconstructed) modalities, loss weights

    def validate(self) -> None:
        if self.regime not in REGIMES:
            raise TrtbenchError(f"unknown regime '{self.regime}'", f"use one of: {', '.join(REGIMES)}")
        if self.regime == "fewshot" and not 0 < self.fraction < 1:
            raise TrtbenchError(f"the few-shot regime needs 0 < --fraction < 1, got {self.fraction}",
                                "pass e.g. --fraction 0.1")
        if self.regime != "fewshot" and self.fraction != 1.0:
            raise TrtbenchError("--fraction applies to the few-shot regime only", "add --regime fewshot")
        if self.lora is not None and self.regime != "lora":
            raise TrtbenchError(f"LoRA options apply to --regime lora, not {self.regime}", "add --regime lora")
        if self.regime == "lora":
            self.adapters().validate()
        for name in ("epochs", "batch_size", "crop"):
            if getattr(self, name) < 1:
                raise TrtbenchError(f"--{name.replace('_', '-')} must be >= 1", "pass a positive value")
        if not self.seeds:
            raise TrtbenchError("no seeds given", "pass --seeds 0 (GEO-Bench asks for at least 5: 0,1,2,3,4)")

    def adapters(self) -> LoraConfig:
        """The LoRA configuration of the lora regime (the defaults where none was given)."""
        return self.lora or LoraConfig()


@dataclass
class RunResult:
    seed: int
    lr: float
    folder: str
    monitor: str
    best_val: float
    best_epoch: int
    epochs_run: int
    train_chips: int
    test: dict[str, float] = field(default_factory=dict)

    @property
    def test_score(self) -> float:
        return self.test[self.monitor]


def build_model(config: TrainConfig, bundle: DataBundle, seed: int) -> torch.nn.Module:
    """The registry model for the dataset's channels and classes, with the regime applied."""
    default = "linear" if bundle.task == "classification" else "upernet"
    head = config.head or (default if MODELS[config.model].facts.kind == ENCODER else None)
    sensor = bundle_layout(config.joint, bundle).input_sensor if config.joint else bundle.sensor
    model = create_model(config.model, checkpoint=config.checkpoint, sensor=sensor, task=bundle.task,
                         head=head, num_classes=bundle.num_classes,
                         class_names=bundle.class_names or None, seed=seed, input_size=config.crop)
    if config.regime == "frozen":
        encoder = getattr(model, "encoder", None)
        if encoder is None or (MODELS[config.model].facts.from_scratch and config.checkpoint is None):
            raise TrtbenchError(f"{config.model} has no pretrained encoder to freeze",
                                "use --regime full or fewshot for a model trained from scratch")
        encoder.requires_grad_(False)
    elif config.regime == "lora":   # the encoder frozen, adapters on its blocks' linears; the head trains fully
        if MODELS[config.model].facts.from_scratch and config.checkpoint is None:
            raise TrtbenchError(f"{config.model} has no pretrained encoder to adapt with LoRA (it trains from "
                                "scratch)", "pass --checkpoint with pretrained weights, or use --regime full")
        resolved = add_adapters(model, config.adapters())
        model.metadata = model.metadata.with_(training={LORA_KEY: resolved.record(len(adapters(model)))})
    return model.train()  # the registry hands out eval-mode models; heads' BatchNorm must train


def trainable_parameters(model: torch.nn.Module) -> dict[str, int | float | None]:
    """What training updates: trainable parameters in all, in the encoder (LoRA: the adapters) and elsewhere
    (the head), and the encoder's share relative to its pretrained size (adapters not counted in the size)."""
    encoder = getattr(model, "encoder", None)
    adapter_ids = {id(p) for m in adapters(model) for p in (m.lora_A, m.lora_B)}
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if encoder is None:
        return {"trainable": total, "encoder_trainable": None, "encoder_parameters": None, "encoder_fraction": None,
                "head_trainable": None}
    size = sum(p.numel() for p in encoder.parameters() if id(p) not in adapter_ids)
    in_encoder = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    return {"trainable": total, "encoder_trainable": in_encoder, "encoder_parameters": size,
            "encoder_fraction": in_encoder / size, "head_trainable": total - in_encoder}


def normalised_as_model(bundle: DataBundle, meta: ModelMetadata) -> DataBundle:
    """The bundle with its chips normalised as the model's metadata says, where the weights fix the statistics
    (SSL4EO-S12: reflectance / 10000) rather than the dataset's band table: eval and predict normalise with the
    metadata, so training must see the same inputs. Other models get the bundle unchanged."""
    if (list(meta.mean), list(meta.std)) == (list(bundle.sensor.mean), list(bundle.sensor.std)):
        return bundle
    splits = {}
    for name, dataset in bundle.splits.items():
        splits[name] = copy.copy(dataset)
        splits[name].mean = np.asarray(meta.mean, np.float32)[:, None, None]
        splits[name].std = np.asarray(meta.std, np.float32)[:, None, None]
    return replace(bundle, splits=splits)


def fit(config: TrainConfig, bundle: DataBundle, seed: int, lr: float, folder: Path,
        callbacks: list[L.Callback] | None = None) -> RunResult:
    """Train one seed into ``folder``; returns the best validation score and the test metrics at that epoch."""
    check = check_before_training(bundle)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(folder / DATA_CHECK_FILE) as tmp:
        tmp.write_text(json.dumps(check, indent=2))
    L.seed_everything(seed, workers=True, verbose=False)
    model = build_model(config, bundle, seed)
    layout = bundle_layout(config.joint, bundle) if config.joint else None
    normalised = joint_normalised(bundle, model.metadata, layout) if layout else normalised_as_model(bundle, model.metadata)
    data = GeoDataModule(normalised, batch_size=config.batch_size, crop=config.crop,
                         size_multiple=model.metadata.patch_size,
                         fraction=config.fraction if config.regime == "fewshot" else 1.0, seed=seed,
                         num_workers=config.num_workers)
    options = {"ignore_index": bundle.ignore_index, "lr": lr, "weight_decay": config.weight_decay,
               "warmup_epochs": config.warmup_epochs, "class_weights": config.class_weights,
               "frozen_encoder": config.regime == "frozen"}
    if layout is not None and config.joint is not None:
        decoders = build_decoders(model, {m: len(c) for m, c in layout.targets.items()})
        task: GeoTask = JointTask(model, decoders, layout.inputs, layout.targets,
                                  dict(zip(config.joint.aux, config.joint.weights)), bundle.task, bundle.num_classes,
                                  **options)
    else:
        task = GeoTask(model, bundle.task, bundle.num_classes, **options)
    name, mode = MONITOR[bundle.task]
    best = ModelCheckpoint(dirpath=folder / "checkpoints", filename="best-{epoch:02d}", monitor=f"val/{name}",
                           mode=mode, save_last=True)
    stop = EarlyStopping(monitor=f"val/{name}", mode=mode, patience=config.patience)
    with warnings.catch_warnings(), _quiet_lightning(config.progress):
        # Noise on CPU runs: a loader per process is the point of num_workers=0 on 2 cores.
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")  # the frozen encoder, on purpose
        trainer = L.Trainer(max_epochs=config.epochs, accelerator="auto", devices=1, precision=_precision(),
                            deterministic=_deterministic(), logger=CSVLogger(folder, name="", version=""),
                            callbacks=[best, stop, *(callbacks or [])], enable_progress_bar=config.progress,
                            enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1,
                            default_root_dir=folder)
        trainer.fit(task, datamodule=data)
        if best.best_model_score is None:
            raise TrtbenchError(f"validation never produced val/{name}: the val split has no labelled pixels",
                                "check the validation masks (all no-data?) or the split lists")
        tested = trainer.test(task, datamodule=data, ckpt_path="best", verbose=False)[0]
    result = RunResult(seed, lr, str(folder), name, float(best.best_model_score), _epoch_of(best.best_model_path),
                       trainer.current_epoch, len(data.train_set),
                       {k.removeprefix("test/"): float(v) for k, v in tested.items()})
    _save(task, config, bundle, result, folder, normalised, layout)
    return result


def joint_normalised(bundle: DataBundle, meta: ModelMetadata, layout: StackLayout) -> DataBundle:
    """The stacked bundle normalised as the model's metadata says for its input channels and with each
    auxiliary modality's own band table (mean, std) for the others: reconstruction targets per modality."""
    mean = np.concatenate([meta.mean, bundle.sensor.mean[layout.inputs:]]).astype(np.float32)
    std = np.concatenate([meta.std, bundle.sensor.std[layout.inputs:]]).astype(np.float32)
    splits = {}
    for name, dataset in bundle.splits.items():
        splits[name] = copy.copy(dataset)
        splits[name].mean, splits[name].std = mean[:, None, None], std[:, None, None]
    return replace(bundle, splits=splits)


def check_before_training(bundle: DataBundle) -> dict:
    """``trtbench data check`` on a small sample of every split, once per dataset bundle, before any training:
    a dataset that would train wrongly (statistics that do not fit the files, labels outside the classes,
    missing files, most labels lost to no-data) stops here with the problem and its fix. Returns the report."""
    if bundle.check is None:
        report = check_bundle(bundle, sample=TRAIN_SAMPLE)
        report.raise_if_wrong()
        bundle.check = report.to_dict()
    return bundle.check


def _save(task: GeoTask, config: TrainConfig, bundle: DataBundle, result: RunResult, folder: Path,
          data: DataBundle, layout: StackLayout | None) -> None:
    model = task.model
    training = {"dataset": bundle.name, "split": bundle.split_note, "regime": config.regime, "fraction": config.fraction,
                "pretrained": config.checkpoint, "seed": result.seed, "lr": result.lr,
                "weight_decay": config.weight_decay, "batch_size": config.batch_size, "epochs": config.epochs,
                "best_epoch": result.best_epoch, "monitor": result.monitor, "best_val": result.best_val,
                "test": result.test, "trainable_parameters": trainable_parameters(model),
                **({LORA_KEY: model.metadata.training[LORA_KEY]} if config.regime == "lora" else {})}
    if isinstance(task, JointTask) and layout is not None and config.joint is not None:
        test = data.splits["test"]
        training[TTT_KEY] = {"dataset": bundle.name, "modalities": config.joint.stacked,
                             "inputs": list(config.joint.inputs), "aux": list(config.joint.aux),
                             "weights": dict(zip(config.joint.aux, config.joint.weights)), "decoder": DECODER,
                             "split": config.joint.split, "split_seed": config.joint.split_seed,
                             "mean": test.mean.ravel().tolist(), "std": test.std.ravel().tolist(),
                             "source": "MMEarth-Bench TTT-MMR (arXiv:2602.06285)", **layout.record()}
    meta = model.metadata.with_(checkpoint=None, checkpoint_sha256=None, training=training)
    if isinstance(task, JointTask):
        save_joint(model, task.decoders, meta, folder / "best.ckpt")
    else:
        save_model(model, meta, folder / "best.ckpt")
    with atomic_output(folder / "result.json") as tmp:
        tmp.write_text(json.dumps({"config": asdict(config), "dataset": bundle.name, "task": bundle.task,
                                   "class_names": bundle.class_names, "metadata": json.loads(meta.to_json()),
                                   **asdict(result)}, indent=2))


@contextlib.contextmanager
def _quiet_lightning(progress: bool) -> Iterator[None]:
    """Without progress output, also drop Lightning's informational banner (GPU/TPU lines, tips)."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    if not progress:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _epoch_of(path: str) -> int:
    stem = Path(path).stem  # best-epoch=07
    return int(stem.split("=")[-1]) if "=" in stem else -1


def _deterministic() -> bool | str:
    """Bit-exact on CPU; on CUDA some backward ops (bilinear upsampling) have no deterministic kernel,
    so determinism is requested with warnings rather than errors there."""
    return "warn" if torch.cuda.is_available() else True


def _precision() -> str:
    """Mixed precision where the device has fast half-precision units; full fp32 on CPU."""
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


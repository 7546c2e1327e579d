"""Learning-rate search with Optuna: N short trials on the first seed, pruned by validation score.

This mirrors how GEO-Bench / terratorch-iterate tune: search the LR on the validation split, then
re-run the best LR over every seed and report the test metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import optuna

from ..data import DataBundle
from .module import MONITOR
from .run import TrainConfig, fit

LR_RANGE = (1e-5, 1e-2)


class PruneOnValidation(L.Callback):
    """Reports the monitored validation metric to Optuna each epoch and stops hopeless trials."""

    def __init__(self, trial: optuna.Trial, monitor: str):
        self.trial = trial
        self.monitor = monitor

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        self.trial.report(float(value), trainer.current_epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {trainer.current_epoch}: {self.monitor}={float(value):.4f}")


def search_lr(config: TrainConfig, bundle: DataBundle, folder: Path) -> dict[str, Any]:
    """Best LR of ``config.lr_search`` trials (seeded TPE sampler, median pruner) and every trial's score."""
    name, mode = MONITOR[bundle.task]
    seed = config.seeds[0]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", *LR_RANGE, log=True)
        run = fit(config, bundle, seed, lr, folder / f"trial_{trial.number:03d}",
                  callbacks=[PruneOnValidation(trial, f"val/{name}")])
        return run.best_val

    study.optimize(objective, n_trials=config.lr_search, catch=())
    trials = [{"number": t.number, "lr": t.params.get("lr"), "value": t.value, "state": t.state.name}
              for t in study.trials]
    return {"best_lr": study.best_params["lr"], "best_value": study.best_value, "monitor": f"val/{name}",
            "n_trials": len(study.trials), "trials": trials}

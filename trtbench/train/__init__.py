"""Fine-tuning on Lightning: regimes (frozen, few-shot, full), Optuna LR search, seeds, leaderboard outputs."""

from .experiment import auto_class_weights, run_experiment
from .module import GeoTask
from .run import REGIMES, RunResult, TrainConfig, fit

__all__ = ["REGIMES", "GeoTask", "RunResult", "TrainConfig", "auto_class_weights", "fit", "run_experiment"]

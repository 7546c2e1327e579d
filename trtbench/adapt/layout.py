"""Where the model's input and each auxiliary modality sit in a dataset's channel stack.

Training and TTT read one stack per chip: the input modalities first (the model's bands, in order), then every
auxiliary modality the input does not already hold. An auxiliary modality may also be an input (MMEarth-Bench
reconstructs every modality available at test time, "whether or not the encoder takes it as input"): its
targets are then the input's own channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..data.published import DATASETS
from ..errors import TrtbenchError
from ..sensors import Sensor

if TYPE_CHECKING:
    from ..data import DataBundle


@dataclass(frozen=True)
class JointSpec:
    """What ``trtbench train --aux-modalities`` asked for, recorded in the experiment and the checkpoint."""

    inputs: tuple[str, ...]                 # modalities the encoder reads, in stack order
    aux: tuple[str, ...]                    # modalities reconstructed by one decoder each
    weights: tuple[float, ...]              # one loss weight per aux modality
    split: str = "official"                 # the dataset's split scheme (eval reads the same test split)
    split_seed: int = 0

    @property
    def stacked(self) -> list[str]:
        """Modalities to stack for training and TTT: inputs, then aux modalities the input lacks."""
        return list(self.inputs) + [m for m in self.aux if m not in self.inputs]


def joint_spec(dataset: str, inputs: Sequence[str] | None, aux: Sequence[str], weights: Sequence[float] | None,
               split: str, split_seed: int) -> JointSpec:
    """Check ``--aux-modalities`` against the dataset's modalities (before anything is read)."""
    spec = DATASETS.get(dataset)
    if spec is None or len(spec.sources) < 2:
        raise TrtbenchError(f"--aux-modalities needs a dataset with several modalities; '{dataset}' has "
                            f"{'one' if spec else 'none known to trtbench'}",
                            "use a multimodal dataset (e.g. --dataset sen1floods11 --aux-modalities s1), or drop "
                            "--aux-modalities")
    unknown = [m for m in aux if m not in spec.sources]
    if unknown or len(set(aux)) != len(aux):
        raise TrtbenchError(f"--aux-modalities {','.join(aux)}: {dataset} has the modalities "
                            f"{', '.join(spec.sources)}, each listed once", f"e.g. --aux-modalities "
                            f"{next(iter(spec.sources))}")
    weights = tuple(weights) if weights else (1.0,) * len(aux)
    if len(weights) != len(aux) or min(weights) <= 0:
        raise TrtbenchError(f"{len(weights)} --aux-weights for {len(aux)} aux modalities (or one not > 0)",
                            "give one positive weight per aux modality, e.g. --aux-weights 1,0.5")
    return JointSpec(tuple(inputs or spec.default_sources), tuple(aux), weights, split, split_seed)


@dataclass(frozen=True)
class StackLayout:
    """Channel indices of the stacked tensor: the model's input (always the first ``inputs``) and each target."""

    inputs: int
    targets: dict[str, list[int]]
    target_bands: dict[str, list[str]]
    input_sensor: Sensor

    def record(self) -> dict:
        return {"input_channels": self.inputs, "aux_channels": self.targets, "aux_bands": self.target_bands}


def stack_layout(joint: JointSpec, channel_counts: Sequence[int], band_names: Sequence[str],
                 input_sensor: Sensor) -> StackLayout:
    """The layout of a stack of ``joint.stacked`` modalities holding ``channel_counts`` channels each."""
    offsets, start = {}, 0
    for name, count in zip(joint.stacked, channel_counts):
        offsets[name] = list(range(start, start + count))
        start += count
    inputs = sum(len(offsets[m]) for m in joint.inputs)
    return StackLayout(inputs, {m: offsets[m] for m in joint.aux},
                       {m: [band_names[i] for i in offsets[m]] for m in joint.aux}, input_sensor)


def input_sensor(dataset: str, joint: JointSpec) -> Sensor:
    """The band table of the input modalities alone (every band of each): what the model is built for."""
    from ..data.sources import stack_sensors

    sources = DATASETS[dataset].sources
    return stack_sensors([sources[m].select(None)[1] for m in joint.inputs])


def bundle_layout(joint: JointSpec, bundle: DataBundle) -> StackLayout:
    """The layout of a bundle loaded with ``joint.stacked`` modalities (``load_data`` keeps their order)."""
    counts = [len(c) for c in bundle.splits["train"].channels]
    return stack_layout(joint, counts, bundle.sensor.band_names, input_sensor(bundle.name, joint))

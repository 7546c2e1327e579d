"""Datasets read from local folders in their published layouts (see :mod:`trtbench.data.catalog`)."""

from .catalog import DATASETS, DataBundle, DataOptions, load_data
from .chips import ChipDataset, LabelSpec, Record
from .sources import Source, sensor_from_spec, stack_sensors
from .splits import few_shot, majority_class, seeded_split

__all__ = ["DATASETS", "ChipDataset", "DataBundle", "DataOptions", "LabelSpec", "Record", "Source", "few_shot",
           "load_data", "majority_class", "seeded_split", "sensor_from_spec", "stack_sensors"]

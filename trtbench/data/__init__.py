"""Datasets read from local folders as their releases ship them (:mod:`trtbench.data.published`,
:mod:`trtbench.data.catalog`), and checked before training (:mod:`trtbench.data.check`)."""

from .catalog import DataBundle, DataOptions, load_data
from .chips import ChipDataset, LabelSpec, Record
from .published import DATASETS, SPLIT_SCHEMES
from .sources import Source, sensor_from_spec, stack_sensors
from .splits import few_shot, majority_class, seeded_split, sklearn_shuffle_split

__all__ = ["DATASETS", "SPLIT_SCHEMES", "ChipDataset", "DataBundle", "DataOptions", "LabelSpec", "Record", "Source",
           "few_shot", "load_data", "majority_class", "seeded_split", "sensor_from_spec", "sklearn_shuffle_split",
           "stack_sensors"]

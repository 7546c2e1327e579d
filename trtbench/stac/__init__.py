"""STAC: artifacts described as STAC Items with the Machine Learning Model extension (and read back)."""

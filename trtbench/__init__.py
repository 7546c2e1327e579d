"""trtbench: from a fine-tuned geospatial foundation model to a fast, verified deployment."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trtbench")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

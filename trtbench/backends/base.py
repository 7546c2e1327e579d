"""One small runner interface, implemented once per backend (Polygraphy's design).

A runner is built from a *loader*: a zero-argument callable that produces the backend object
(a torch module, an ONNX Runtime session, ...) only when the runner is activated, so building a
runner is free and loaders compose. ``infer`` takes and returns name -> numpy array dicts.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import numpy as np

from ..errors import TrtbenchError

T = TypeVar("T")
Loader = Callable[[], T]


class Runner(abc.ABC, Generic[T]):
    """activate() -> infer(feed) -> outputs -> deactivate(); usable as a context manager."""

    name: str = "runner"
    selection: Any = None   # a backends.auto.BackendChoice when ``--backend auto`` picked this runner

    def __init__(self, loader: Loader[T]):
        self._loader = loader
        self._backend: T | None = None

    @property
    def is_active(self) -> bool:
        return self._backend is not None

    def activate(self) -> None:
        if self._backend is None:
            self._backend = self._loader()

    def deactivate(self) -> None:
        self._backend = None

    def infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._backend is None:
            raise TrtbenchError(f"{self.name} runner used before activate()", "use it as `with runner:`")
        return self._infer(self._backend, feed)

    @abc.abstractmethod
    def _infer(self, backend: T, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch on the activated backend."""

    def describe(self) -> dict[str, Any]:
        """What actually runs (device, provider, precision ...), for reports."""
        return {"backend": self.name}

    def selection_info(self) -> dict[str, Any]:
        """``{"auto": {"backend", "reason"}}`` when ``auto`` picked this runner, else empty (for reports)."""
        return {"auto": self.selection.to_dict()} if self.selection is not None else {}

    def __enter__(self) -> Runner[T]:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

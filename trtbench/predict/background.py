"""Background threads that overlap a scene's I/O and post-processing with inference.

``Prefetcher`` runs ahead of inference (reading and normalising tiles); ``WriteBehind`` runs behind it
(blending, rendering and writing outputs). Inference then only waits for the runtime: on a GPU the
host work hides entirely behind the device, on a CPU it fills the gaps the runtime's threads leave.
Both queues are bounded, so memory stays at a few batches whatever the scene size, and an error in
a thread is re-raised to the caller.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _Bounded:
    """A bounded queue whose producer gives up when told to stop (so no thread is left blocked)."""

    def __init__(self, depth: int):
        self.queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self.stop = threading.Event()

    def put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


class Prefetcher(Generic[T]):
    """Iterate ``source`` in a background thread, at most ``depth`` items ahead of the consumer.

    Reading (GDAL releases the GIL) then overlaps inference; the bounded queue keeps memory at
    ``depth`` items whatever the scene size. Errors in the thread are re-raised to the consumer.
    """

    _DONE = object()

    def __init__(self, source: Iterable[T], depth: int):
        self._items = _Bounded(depth)
        self._thread = threading.Thread(target=self._run, args=(source,), daemon=True, name="trtbench-reader")
        self._thread.start()

    def _run(self, source: Iterable[T]) -> None:
        try:
            for item in source:
                if not self._items.put(item):
                    return
            self._items.put(self._DONE)
        except BaseException as exc:  # handed to the consumer, who decides
            self._items.put(exc)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._items.queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._items.stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WriteBehind(Generic[T]):
    """Apply ``work`` to each submitted item in one background thread, in submission order.

    ``submit`` blocks when ``depth`` items wait (back-pressure instead of memory growth) and re-raises
    an earlier failure of ``work``. Leaving the ``with`` block normally waits until every item is done;
    leaving it by an exception drops what has not started, so an interrupted scene stops promptly.
    """

    _DONE = object()

    def __init__(self, work: Callable[[T], None], depth: int):
        self._work = work
        self._items = _Bounded(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="trtbench-writer")
        self._thread.start()

    def _run(self) -> None:
        while not self._items.stop.is_set():
            try:
                item = self._items.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is self._DONE:
                return
            try:
                self._work(item)
            except BaseException as exc:  # handed to the submitter, who decides
                self._error = exc
                self._items.stop.set()
                return

    def submit(self, item: T) -> None:
        self._raise_error()
        if not self._items.put(item):
            self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> WriteBehind[T]:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self._items.stop.set()
            self._thread.join(timeout=5)
            return
        self._items.put(self._DONE)
        self._thread.join()
        self._raise_error()

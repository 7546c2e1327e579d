"""Background threads of predict: the write-behind keeps order, bounds its queue and hands back errors."""

from __future__ import annotations

import threading
import time

import pytest

from trtbench.predict.background import Prefetcher, WriteBehind


def test_write_behind_applies_every_item_in_order_before_the_block_ends():
    done: list[int] = []
    with WriteBehind(lambda i: (time.sleep(0.001), done.append(i)), depth=2) as writer:
        for i in range(50):
            writer.submit(i)
    assert done == list(range(50))


def test_write_behind_blocks_the_submitter_instead_of_queueing_without_bound():
    release = threading.Event()
    with WriteBehind(lambda _: release.wait(), depth=2) as writer:
        writer.submit(0)                       # taken by the thread, which then waits
        time.sleep(0.05)
        writer.submit(1)
        writer.submit(2)                       # the queue of 2 is now full
        blocked = threading.Thread(target=writer.submit, args=(3,))
        blocked.start()
        blocked.join(timeout=0.3)
        assert blocked.is_alive()
        release.set()
        blocked.join(timeout=5)
        assert not blocked.is_alive()


def test_write_behind_error_reaches_the_submitter():
    def fail(item: int) -> None:
        if item == 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with WriteBehind(fail, depth=1) as writer:
            for i in range(100):
                writer.submit(i)
                time.sleep(0.002)


def test_write_behind_error_in_the_last_items_is_raised_when_the_block_ends():
    def fail(item: int) -> None:
        raise ValueError(f"item {item}")

    with pytest.raises(ValueError, match="item 0"):
        with WriteBehind(fail, depth=4) as writer:
            writer.submit(0)


def test_write_behind_stops_promptly_when_the_submitter_fails():
    done: list[int] = []
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        with WriteBehind(lambda i: (time.sleep(0.05), done.append(i)), depth=8) as writer:
            for i in range(8):
                writer.submit(i)
            raise KeyboardInterrupt
    assert time.perf_counter() - started < 1.0 and len(done) < 8


def test_prefetcher_yields_the_source_and_reraises_its_error():
    def source():
        yield from range(5)
        raise RuntimeError("corrupt block")

    got = []
    with pytest.raises(RuntimeError, match="corrupt block"), Prefetcher(source(), depth=2) as items:
        for item in items:
            got.append(item)
    assert got == list(range(5))

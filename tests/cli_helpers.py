"""Run the real console entry point in-process and capture what a user would see."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from trtbench.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def exit_code(*args: str) -> int:
    """The exit code of ``trtbench ARGS`` run through the real entry point (output left to the caller)."""
    argv = sys.argv
    sys.argv = ["trtbench", *map(str, args)]
    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return 0


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> CliResult:
    argv = sys.argv
    sys.argv = ["trtbench", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)

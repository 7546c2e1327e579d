"""Options and exit codes shared by every ``trtbench`` command.

Exit codes, the same in every command (documented in the README):

- 0: done;
- 1: a gate failed: parity or accuracy worse than the tolerance, or TensorRT would reject the file;
- 2: a user mistake (bad file, option or output path), reported before any work with a fix;
- 3: ``predict`` of many scenes finished some and not others (each failure is listed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .fileio import atomic_output, check_writable

EXIT_GATE_FAILED = 1
EXIT_USER_MISTAKE = 2
EXIT_PARTIAL = 3
STDOUT = "-"
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def json_option(help_text: str = "Write the result as JSON to FILE ('-' or no FILE: standard output).") -> Callable:
    """``--json FILE`` for every command: a path, ``-`` for standard output, or bare ``--json`` (stdout)."""
    return click.option("--json", "json_path", is_flag=False, flag_value=STDOUT, default=None, metavar="FILE",
                        help=help_text)


def check_outputs(*outputs: tuple[str | None, str], plot: str | None = None) -> None:
    """Check every ``(path, option)`` file output (and a ``--plot`` file) before the work starts."""
    for path, option in outputs:
        if path and path != STDOUT:
            check_writable(path, option=option)
    if plot:
        check_writable(plot, option="--plot", suffixes=PLOT_SUFFIXES)


def emit_json(path: str | None, data: Callable[[], Any]) -> None:
    """Write ``data()`` (a JSON-able object, or JSON text) to ``path`` atomically, to standard output for ``-``,
    nowhere for None."""
    if not path:
        return
    value = data()
    text = value if isinstance(value, str) else json.dumps(value, indent=2)
    if path == STDOUT:
        click.echo(text)
        return
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_text(path: str | Path | None, text: Callable[[], str]) -> None:
    """Write ``text()`` to ``path`` atomically (nothing for None)."""
    if path:
        with atomic_output(path) as tmp:
            tmp.write_text(text())


def human_output(json_path: str | None) -> Callable[[str], None]:
    """Where a command prints its table: standard error when its JSON goes to standard output."""
    return lambda text: click.echo(text, err=json_path == STDOUT)

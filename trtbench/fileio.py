"""Output files that are never seen half-written."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import TrtbenchError


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or error leaves the previous file (or nothing) in place, never a partial one.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise TrtbenchError(f"output folder does not exist: {parent}", "create it first or choose another -o")
    if not os.access(parent, os.W_OK):
        raise TrtbenchError(f"output folder is not writable: {parent}", "choose a folder you can write to")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~current_umask())  # mkstemp makes 0600; the finished file gets the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process's umask (read by setting and restoring it): the mode new files get is 0o666 & ~umask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_sha256(path: str | Path) -> str:
    """Content hash of a file, read in blocks (artifacts and checkpoints are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable(path: str | Path, kind: str = "file", *, option: str = "-o",
                   suffixes: Sequence[str] = ()) -> Path:
    """Refuse, before any work starts, an output that could not be written; returns ``path``.

    ``kind`` is ``"file"`` (written atomically beside itself: its folder must exist and take new files)
    or ``"folder"`` (created if missing: its nearest existing ancestor must take new entries). The
    folder is probed by creating and deleting a temporary file, because permission bits do not tell
    (root ignores them; read-only and virtual file systems refuse anyway). ``suffixes`` lists the file
    endings the writer understands, so a wrong one fails now rather than after the run.
    """
    path = Path(path)
    named = f"{option} {path}"
    if kind == "folder":
        if path.exists() and not path.is_dir():
            raise TrtbenchError(f"{named} is a file, not a folder", f"pass a folder to {option}")
        probe = next((p for p in (path, *path.parents) if p.exists()), Path("."))
        if not probe.is_dir():
            raise TrtbenchError(f"{named}: {probe} is a file, so the folder cannot be created",
                                f"choose another {option}")
        _probe_folder(probe, named, option, creating=probe != path)
        return path
    if path.is_dir():
        raise TrtbenchError(f"{named} is a folder, not a file", f"give a file name, e.g. {option} {path / 'out'}"
                            f"{suffixes[0] if suffixes else ''}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise TrtbenchError(f"{named}: '{path.suffix or 'no extension'}' is not a format this output can be written in",
                            f"name it {path.stem}{suffixes[0]} (one of: {', '.join(suffixes)})")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise TrtbenchError(f"{named}: the folder {parent} does not exist", f"create it first (mkdir -p {parent}) "
                            f"or choose another {option}")
    if not parent.is_dir():
        raise TrtbenchError(f"{named}: {parent} is a file, not a folder", f"choose another {option}")
    _probe_folder(parent, named, option, creating=False)
    return path


def _probe_folder(folder: Path, named: str, option: str, creating: bool) -> None:
    try:
        with tempfile.TemporaryFile(prefix=".trtbench-probe-", dir=folder):
            pass
    except OSError as exc:
        what = f"cannot be created in {folder}" if creating else f"cannot write in the folder {folder}"
        raise TrtbenchError(f"{named}: {what} ({exc.strerror or exc})",
                            f"choose a folder you can write to for {option}") from None

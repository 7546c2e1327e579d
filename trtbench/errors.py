"""User-facing errors.

Every failure a user can cause (bad file, wrong band count, mismatched engine, ...) is raised as a
:class:`TrtbenchError` carrying what went wrong and how to fix it; the CLI prints both and exits
non-zero, without a traceback, because the traceback would bury the fix.
"""

from __future__ import annotations


class TrtbenchError(Exception):
    """An error caused by input the user can correct."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}\n  fix: {fix}")


class CheckpointError(TrtbenchError):
    """A checkpoint is unreadable or does not match the model's layout."""


class InputError(TrtbenchError):
    """Input pixels or files do not match what the artifact expects."""


class BackendUnavailable(TrtbenchError):
    """A backend cannot run on this machine (missing package, no GPU, ...)."""

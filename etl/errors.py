"""facelake's one error hierarchy: what went wrong, in kinds a caller can act on.

    FacelakeError            the root; `exit_code` is what the command line exits with
    ├── UsageError           a wrong argument, config value, path or source: fix the call (exit 2)
    ├── LakeStateError       the lake cannot be used as it is: missing, foreign, mid-erasure (exit 2)
    ├── DataError            the data broke a rule the job cannot work around (exit 1)
    └── TransientIOError     storage or the cluster failed; running again may succeed (exit 1)

Each concrete error also keeps the builtin it always was (`ValueError`, `FileNotFoundError`,
`RuntimeError`), so callers that caught those still do.

The library never names a command-line flag: an error about one setting names the setting by
its config field in `option` and writes the message after it ("/data is not a SiW tree: ...").
`str(error)` reads `source: /data is not ...` in a notebook; the command line's one place that
turns errors into lines (`jobs.common.runner.run_job`) writes `--source /data is not ...`. A hint in the
middle of a message names a setting as `{option:task_memory_mb}`, rendered the same two ways.
"""

from __future__ import annotations

import re

__all__ = ["DataError", "FacelakeError", "LakeStateError", "TransientIOError", "UsageError", "require"]

_OPTION = re.compile(r"\{option:([a-z_]+)\}")


def flag(option: str) -> str:
    """The command-line flag of a config field: `task_memory_mb` -> `--task-memory-mb`."""
    return "--" + option.replace("_", "-")


class FacelakeError(Exception):
    """The root of facelake's errors.

    Args:
        message: what is wrong and what to do, in one line, without naming a flag.
        option: the config field this error is about, if one is (rendered first in the line).
        **fields: structured details (paths, counts, names) for callers and logs.
    """

    exit_code = 1

    def __init__(self, message: str, *, option: str | None = None, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.option = option
        self.fields = fields

    def line(self, *, flags: bool = False) -> str:
        """The error as one line: setting names as config fields, or as flags when `flags`."""
        name = flag if flags else (lambda option: option)
        text = _OPTION.sub(lambda m: name(m.group(1)), self.message)
        if self.option is None:
            return text
        return f"{name(self.option)} {text}" if flags else f"{self.option}: {text}"

    def __str__(self) -> str:
        return self.line()


class UsageError(FacelakeError, ValueError):
    """A wrong argument, config value, path or source: nothing was done (exit 2)."""

    exit_code = 2


class LakeStateError(FacelakeError, RuntimeError):
    """The lake cannot be used as it is (missing, not a facelake lake, an unfinished erasure) (exit 2)."""

    exit_code = 2


class DataError(FacelakeError, RuntimeError):
    """The data breaks a rule the job cannot work around (an erasure that left rows behind) (exit 1)."""


class TransientIOError(FacelakeError, OSError):
    """Storage or the cluster failed; the same call may succeed later (exit 1)."""


def require(condition: bool, message: str, *, option: str | None = None) -> None:
    """Raise `UsageError(message)` unless `condition`: the one check typed configs validate with."""
    if not condition:
        raise UsageError(message, option=option)

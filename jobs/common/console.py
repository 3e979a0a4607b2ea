"""Where facelake's own terminal output goes (its log lines and progress bars).

A job run from the command line sends everything written to file descriptor 2 (Ray's,
TensorFlow's and ffmpeg's chatter, native or not) to its log file, and keeps the
terminal for facelake alone: `jobs.common.logs` then points `stream()` at a duplicate of the
original stderr. Code run any other way (a test calling a job's `main`, a notebook)
writes to `sys.stderr` as usual.
"""

from __future__ import annotations

import sys
from typing import TextIO

_stream: TextIO | None = None


def stream() -> TextIO:
    return _stream if _stream is not None else sys.stderr


def set_stream(target: TextIO | None) -> None:
    global _stream
    _stream = target

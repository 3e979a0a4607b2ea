"""A per-task memory limit: stop one video's processing when it has grown its worker too much.

A Ray worker runs one video at a time. Without a limit, a video with huge frames (an 8K
recording, a corrupt header claiming 60000x60000) grows the worker until the kernel's OOM
killer or Ray's memory monitor kills it, and Ray's retries only repeat the kill. The
guard measures the worker's resident memory (RSS) when the task starts and, as frames
are decoded and processed, how much it has grown since; over the limit the task stops
with `MemoryLimitExceeded`, and the video gets an `error` row that says so (retried by
the next run, e.g. with a higher `task_memory_mb` or a larger `frame_stride`).

Growth, not total RSS, is limited: a worker's baseline (models, libraries) is not the
video's doing. RSS can stay below the true allocation when the allocator reuses memory
an earlier task freed, so the limit is a guard against runaway videos, not an exact cap.
"""

from __future__ import annotations

import os

from etl.errors import DataError

MB = 1024 * 1024


class MemoryLimitExceeded(DataError, MemoryError):
    """The task grew its worker's memory past its limit (a `DataError`, and a MemoryError as before).

    Its message names the settings as `{option:task_memory_mb}`: `line(flags=True)` gives the flags.
    """


def resident_bytes() -> int:
    """The resident memory of this process, in bytes."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux
        import psutil

        return int(psutil.Process().memory_info().rss)


class MemoryGuard:
    """Raises `MemoryLimitExceeded` from `check()` once RSS grew by more than `limit_mb` since creation.

    `limit_mb` 0 turns the guard off. `peak_mb` is the largest growth seen by `check()`.
    """

    def __init__(self, limit_mb: int, *, what: str) -> None:
        self.limit_mb = limit_mb
        self.what = what
        self.baseline = resident_bytes() if limit_mb else 0
        self.peak_mb = 0.0

    def check(self, where: str) -> None:
        if not self.limit_mb:
            return
        grown = (resident_bytes() - self.baseline) / MB
        self.peak_mb = max(self.peak_mb, grown)
        if grown > self.limit_mb:
            raise MemoryLimitExceeded(
                f"{self.what} grew its worker's memory by {grown:.0f} MB ({where}), over the task limit of "
                f"{self.limit_mb} MB; rerun with a higher {{option:task_memory_mb}} or a larger {{option:frame_stride}}"
            )

"""The per-task memory guard: growth of this process's resident memory past a limit stops the task."""

from __future__ import annotations

import numpy as np
import pytest

from etl.ingest.memory_guard import MemoryGuard, MemoryLimitExceeded


def test_growth_past_the_limit_raises_with_a_reason_and_zero_means_no_limit():
    guard, unlimited = MemoryGuard(64, what="video a/b.mov"), MemoryGuard(0, what="video c.mov")
    guard.check("before")
    held = np.ones(160 * 1024 * 1024, dtype=np.uint8)  # 160 MB, every page touched
    unlimited.check("holding 160 MB")
    with pytest.raises(
        MemoryLimitExceeded,
        match=r"video a/b.mov grew its worker's memory by \d+ MB "
        r"\(holding 160 MB\), over the task limit of 64 MB",
    ):
        guard.check("holding 160 MB")
    assert guard.peak_mb >= 150 and unlimited.peak_mb == 0
    del held


def test_a_negative_limit_is_refused():
    from etl.config import IngestConfig

    with pytest.raises(ValueError, match="task_memory_mb must be >= 0"):
        IngestConfig(task_memory_mb=-1)

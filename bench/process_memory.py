"""This process's resident memory from /proc (Linux): current, peak, and a peak reset.

No numpy or other heavy import here: benches that set thread counts before numpy loads
import this first.
"""

from __future__ import annotations

from pathlib import Path


def status_mb(field_name: str) -> float | None:
    """VmRSS / VmHWM of this process from /proc, in MiB (None where /proc has no such line)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Restart the peak-RSS count (Linux >= 4.0: writing 5 to clear_refs resets VmHWM), so a
    peak covers one measured step and not what ran before it. False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True

"""The `report` job's run: the audit as one self-contained HTML file (nothing is written to the lake)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from etl.lake.catalog import warn_if_stale
from etl.lake.lake import Lake
from etl.report.contents import build_report

__all__ = ["ReportSummary", "run_report"]


@dataclass(frozen=True)
class ReportSummary:
    """The report written: its path and its length in characters."""

    path: Path
    chars: int


def run_report(*, lake: Lake, out: Path, train_id: str | None = None) -> ReportSummary:
    """Write the lake's HTML report to `out` (its folder is created; an existing file is replaced).

    Args:
        lake: the lake to read.
        out: the HTML file to write.
        train_id: the scored model the model section shows (`scores.train_id`); None: the one created last.

    Returns:
        Where the report went and how long it is.

    Raises:
        UsageError: `train_id` has no scores in the lake (nothing is written).
    """
    warn_if_stale(lake)
    html = build_report(lake, train_id=train_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return ReportSummary(path=out, chars=len(html))

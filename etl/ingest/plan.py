"""Decide what an ingest (or register) run must do, from a scan and the lake's rows.

- a processable video with no row, or whose fingerprint changed, or whose last attempt
  ended in `error`, is processed (all of them with `full`);
- an unprocessable file gets (or keeps) a status row; unchanged ones are not rewritten;
- a video of this source root that the scan no longer finds is marked
  `source_present = false`; its rows stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from etl.sources.siw_tree import ScanResult
from etl.sources.source_item import SourceItem
from schemas.vocabulary import VideoStatus

RETRIED_STATUSES = {VideoStatus.ERROR}  # photos' `error` is the same word


@dataclass
class IngestPlan:
    to_process: list[SourceItem] = field(default_factory=list)  # VideoSource or PhotoSource items
    status_only: list[SourceItem] = field(default_factory=list)  # unprocessable, new or changed
    gone_ids: list[str] = field(default_factory=list)
    returned_ids: list[str] = field(default_factory=list)  # marked gone earlier, back unchanged
    unchanged: int = 0
    other_settings: int = 0  # unchanged videos processed with different settings (see --full)


def plan_ingest(scan: ScanResult, existing: pa.Table, *, full: bool, config_hash: str) -> IngestPlan:
    return plan_sources(
        scan.videos, existing, key="video_id", source_root=scan.source_root, full=full, config_hash=config_hash
    )


def plan_sources(
    items: list[SourceItem], existing: pa.Table, *, key: str, source_root: str, full: bool, config_hash: str
) -> IngestPlan:
    """The plan for any scanned source items (videos, photos).

    Args:
        items: the scan's items; each one's `source_id` is its value in the table's key column `key`.
        existing: the table's rows (at least `key`, source_root, fingerprint, status, source_present, config_hash).
    """
    known = {
        row[key]: row
        for row in existing.select(
            [key, "source_root", "fingerprint", "status", "source_present", "config_hash"]
        ).to_pylist()
    }
    plan = IngestPlan()
    for item in items:
        row = known.get(item.source_id)
        same = row is not None and row["fingerprint"] == item.fingerprint
        if not item.processable:
            if not same or row["status"] != item.status:
                plan.status_only.append(item)
            else:
                _unchanged(plan, row, item.source_id, config_hash, counts_settings=False)
        elif full or not same or row["status"] in RETRIED_STATUSES:
            plan.to_process.append(item)
        else:
            _unchanged(plan, row, item.source_id, config_hash, counts_settings=True)
    seen = {item.source_id for item in items}
    plan.gone_ids = sorted(
        k for k, row in known.items() if row["source_root"] == source_root and row["source_present"] and k not in seen
    )
    return plan


def _unchanged(plan: IngestPlan, row: dict, item_key: str, config_hash: str, *, counts_settings: bool) -> None:
    plan.unchanged += 1
    if not row["source_present"]:
        plan.returned_ids.append(item_key)
    if counts_settings and row["config_hash"] != config_hash:
        plan.other_settings += 1

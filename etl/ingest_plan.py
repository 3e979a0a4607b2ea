"""Decide what an ingest run must do, from a scan and the lake's `videos` rows.

- a processable video with no row, or whose fingerprint changed, or whose last attempt
  ended in `error`, is processed (all of them with `full`);
- an unprocessable file gets (or keeps) a status row; unchanged ones are not rewritten;
- a video of this source root that the scan no longer finds is marked
  `source_present = false`; its rows stay.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from etl.scan import ScanResult, VideoSource

RETRIED_STATUSES = {"error"}


@dataclass
class IngestPlan:
    to_process: list[VideoSource] = field(default_factory=list)
    status_only: list[VideoSource] = field(default_factory=list)  # unprocessable, new or changed
    gone_ids: list[str] = field(default_factory=list)
    returned_ids: list[str] = field(default_factory=list)  # marked gone earlier, back unchanged
    unchanged: int = 0
    other_settings: int = 0  # unchanged videos processed with different settings (see --full)


def plan_ingest(scan: ScanResult, existing: pa.Table, *, full: bool, config_hash: str) -> IngestPlan:
    known = {row["video_id"]: row for row in existing.select(
        ["video_id", "source_root", "fingerprint", "status", "source_present", "config_hash"]).to_pylist()}
    plan = IngestPlan()
    for video in scan.videos:
        row = known.get(video.video_id)
        same = row is not None and row["fingerprint"] == video.fingerprint
        if not video.processable:
            if not same or row["status"] != video.status:
                plan.status_only.append(video)
            else:
                _unchanged(plan, row, video, config_hash, counts_settings=False)
        elif full or not same or row["status"] in RETRIED_STATUSES:
            plan.to_process.append(video)
        else:
            _unchanged(plan, row, video, config_hash, counts_settings=True)
    seen = {v.video_id for v in scan.videos}
    plan.gone_ids = sorted(
        vid for vid, row in known.items()
        if row["source_root"] == scan.source_root and row["source_present"] and vid not in seen
    )
    return plan


def _unchanged(plan: IngestPlan, row: dict, video: VideoSource, config_hash: str, *, counts_settings: bool) -> None:
    plan.unchanged += 1
    if not row["source_present"]:
        plan.returned_ids.append(video.video_id)
    if counts_settings and row["config_hash"] != config_hash:
        plan.other_settings += 1

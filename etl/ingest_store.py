"""Ingest's writes to the lake, in an order that makes every crash safe to rerun.

A batch commits its `frames` first (one atomic predicate overwrite of exactly those
videos' rows) and its `videos` rows second. The `videos` row, with the fingerprint, is
what marks a video done: if the run dies between the two commits, the next run sees the
video as not done, processes it again and the predicate overwrite replaces the frames
written before, so nothing is duplicated and nothing is lost.
"""
from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.compute as pc

from etl.lake import Lake, in_predicate
from schemas import FRAMES, VIDEOS, TableSpec

log = logging.getLogger(__name__)


def commit_videos(lake: Lake, *, frames: list[pa.Table], videos: list[pa.Table]) -> None:
    """Replace the rows of these videos in `frames`, then in `videos`."""
    if not videos:
        return
    video_rows = pa.concat_tables(videos)
    ids = video_rows.column("video_id").to_pylist()
    predicate = in_predicate("video_id", ids)
    frame_rows = pa.concat_tables(frames) if frames else FRAMES.schema.empty_table()
    lake.replace_where(FRAMES, frame_rows, predicate=predicate)
    lake.replace_where(VIDEOS, video_rows, predicate=predicate)
    log.debug("committed %d videos, %d frames", len(ids), frame_rows.num_rows)


def set_source_present(lake: Lake, video_ids: list[str], *, present: bool, spec: TableSpec = VIDEOS,
                       key: str = "video_id") -> None:
    """Mark videos (or photos) as (no longer) found in their source tree, keeping every other field."""
    if not video_ids:
        return
    predicate = in_predicate(key, video_ids)
    current = lake.read(spec)
    rows = current.filter(pc.is_in(current.column(key), pa.array(video_ids)))
    rows = rows.set_column(rows.schema.get_field_index("source_present"), "source_present",
                           pa.array([present] * rows.num_rows, type=pa.bool_()))
    lake.replace_where(spec, rows, predicate=predicate)
    log.info("marked %d %s rows source_present=%s", rows.num_rows, spec.name, present)

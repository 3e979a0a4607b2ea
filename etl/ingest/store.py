"""Ingest's writes to the lake, in an order that makes every crash safe to rerun.

A batch commits its `frames` first (one atomic commit that replaces exactly those
videos' rows: the files the workers wrote in, the videos' older files out) and its
`videos` rows second. The `videos` row, with the fingerprint, is
what marks a video done: if the run dies between the two commits, the next run sees the
video as not done, processes it again and its commit replaces the frames written
before, so nothing is duplicated and nothing is lost. Files a worker wrote for a run
that died before committing them are in no version: never read, and vacuumed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from etl.lake.files import StagedFile, replace_keys
from etl.lake.lake import Lake
from etl.lake.rows import in_predicate
from schemas import FRAMES, VIDEOS, TableSpec

log = logging.getLogger(f"facelake.{__name__}")


def commit_videos(
    lake: Lake, *, videos: list[pa.Table], frames: Sequence[pa.Table] = (), staged: Sequence[StagedFile] = ()
) -> None:
    """Replace the rows of these videos in `frames`, then in `videos`.

    `staged`: the files workers wrote these videos' frames to (`VideoResult.written_to`);
    `frames`: rows still to be written (a lake workers cannot write to, or status-only rows).
    """
    if not videos:
        return
    video_rows = pa.concat_tables(videos)
    ids = video_rows.column("video_id").to_pylist()
    predicate = in_predicate("video_id", ids)
    frame_rows = pa.concat_tables(frames) if frames else None
    replace_keys(lake, FRAMES, key="video_id", keys=ids, rows=frame_rows, staged=staged)
    lake.replace_where(VIDEOS, video_rows, predicate=predicate)
    log.debug(
        "committed %d videos (%d frames from the driver, %d files staged by workers)",
        len(ids),
        frame_rows.num_rows if frame_rows is not None else 0,
        len(staged),
    )


def set_source_present(
    lake: Lake, video_ids: list[str], *, present: bool, spec: TableSpec = VIDEOS, key: str = "video_id"
) -> None:
    """Mark videos (or photos) as (no longer) found in their source tree, keeping every other field."""
    if not video_ids:
        return
    predicate = in_predicate(key, video_ids)
    rows = lake.read(spec, filter=pc.field(key).isin(video_ids))  # only these rows: photos carry image bytes
    rows = rows.set_column(
        rows.schema.get_field_index("source_present"),
        "source_present",
        pa.array([present] * rows.num_rows, type=pa.bool_()),
    )
    lake.replace_where(spec, rows, predicate=predicate)
    log.info("marked %d %s rows source_present=%s", rows.num_rows, spec.name, present)

"""A lake written before a column was added to a schema stays readable, writable and queryable."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from etl.lake.lake import Lake, table_description
from etl.lake.query import load_query, run_query
from etl.lake.rows import in_predicate
from schemas import VIDEOS

ADDED = "source_frames"  # added to `videos` after the first lakes were written


def _row(video_id: str, **extra) -> dict:
    row = {name: None for name in VIDEOS.schema.names}
    row.update(
        video_id=video_id,
        status="ok",
        source_present=True,
        face_repairs=[],
        face_lines=30,
        n_frames=30,
        processed_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    row.update(extra)
    return row


def _older_videos_table(lake: Lake) -> None:
    old_schema = VIDEOS.schema.remove(VIDEOS.schema.get_field_index(ADDED))
    rows = [{k: v for k, v in _row(f"Train/live/00{i}/00{i}-1-1-1-1").items() if k != ADDED} for i in (1, 2)]
    write_deltalake(
        lake.uri(VIDEOS), pa.Table.from_pylist(rows, schema=old_schema), description=table_description(VIDEOS)
    )


def test_older_table_reads_with_the_new_column_as_null(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _older_videos_table(lake)
    assert ADDED not in lake.written_columns(VIDEOS)
    table = lake.read(VIDEOS)
    assert table.schema.names == VIDEOS.schema.names
    assert table.column(ADDED).null_count == 2


def test_writing_into_an_older_table_adds_the_column(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _older_videos_table(lake)
    new = pa.Table.from_pylist([_row("Train/live/001/001-1-1-1-1", source_frames=31)], schema=VIDEOS.schema)
    lake.replace_where(VIDEOS, new, predicate=in_predicate("video_id", ["Train/live/001/001-1-1-1-1"]))
    assert ADDED in {f.name for f in DeltaTable(lake.uri(VIDEOS)).schema().fields}
    rows = {r["video_id"]: r[ADDED] for r in lake.read(VIDEOS).to_pylist()}
    assert rows == {"Train/live/001/001-1-1-1-1": 31, "Train/live/002/002-1-1-1-1": None}


def test_queries_run_on_an_older_table(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _older_videos_table(lake)
    # the column exists in no file yet: a typed NULL in the view
    assert run_query(lake, load_query("face_line_mismatch")).num_rows == 0
    new = pa.Table.from_pylist([_row("Train/live/001/001-1-1-1-1", source_frames=31)], schema=VIDEOS.schema)
    lake.replace_where(VIDEOS, new, predicate=in_predicate("video_id", ["Train/live/001/001-1-1-1-1"]))
    # now in one file but not the other: union by name
    rows = run_query(lake, load_query("face_line_mismatch")).to_pylist()
    assert [(r["video_id"], r["source_frames"], r["difference"]) for r in rows] == [
        ("Train/live/001/001-1-1-1-1", 31, -1)
    ]

"""Workers write data files, the driver commits them (etl/lake/files.py, Lake.replace_files) on real Delta tables."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from etl.lake.files import delta_stats, write_rows, write_staged
from etl.lake.lake import Lake
from etl.lake.rows import cast_to_spec
from schemas import FRAMES, PHOTOS
from schemas.spec import TableSpec

sys.path.insert(0, str(Path(__file__).parent))
from driver_bytes_probe import _payloads  # noqa: E402


def frame_rows(video_id: str, n: int, *, split: str = "train", label: str = "live", seed: int = 0) -> pa.Table:
    rng = random.Random(f"{video_id}-{seed}")
    columns = {name: [None] * n for name in FRAMES.schema.names}
    columns.update(
        video_id=[video_id] * n,
        frame_index=list(range(n)),
        split=[split] * n,
        label=[label] * n,
        det_status=["ok"] * n,
        det_score=[rng.random() for _ in range(n)],
        subject=[rng.randint(1, 90)] * n,
        face_box=[[1, 2, 30, 40]] * n,
        aligned=[rng.randbytes(300) for _ in range(n)],
        run_id=["r1"] * n,
    )
    return cast_to_spec(pa.table(columns), FRAMES)


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["video_id"], r["frame_index"]))


def counts(lake: Lake) -> dict[str, int]:
    table = lake.read(FRAMES, columns=["video_id"])
    return {
        row["video_id"]: row["video_id_count"]
        for row in table.group_by("video_id").aggregate([("video_id", "count")]).to_pylist()
    }


def test_staged_files_commit_the_same_rows_as_a_driver_write(tmp_path):
    rows = pa.concat_tables([frame_rows("a", 5), frame_rows("b", 3, split="test", label="spoof")])
    driver, workers = Lake(str(tmp_path / "driver")), Lake(str(tmp_path / "workers"))
    driver.ensure(FRAMES)
    driver.append(FRAMES, rows)
    workers.ensure(FRAMES)
    staged = write_staged(workers, FRAMES, rows)
    assert sorted(f.partition_values["split"] + "/" + f.partition_values["label"] for f in staged) == [
        "test/spoof",
        "train/live",
    ]
    assert [f.num_records for f in sorted(staged, key=lambda f: f.path)] == [3, 5]
    workers.replace_files(FRAMES, key="video_id", values=["a", "b"], staged=staged)
    assert sorted_rows(workers.read(FRAMES)) == sorted_rows(driver.read(FRAMES))
    # delta-rs itself reads them as it reads its own files, partition columns included
    assert sorted_rows(
        DeltaTable(workers.uri(FRAMES)).to_pyarrow_table().select(FRAMES.schema.names).cast(FRAMES.schema)
    ) == sorted_rows(driver.read(FRAMES))


def test_a_staged_file_has_the_tables_writer_settings_and_exact_statistics(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    rows = frame_rows("vid-7", 6)
    (staged,) = write_staged(lake, FRAMES, rows)
    assert staged.path.startswith("split=train/label=live/part-00000-") and staged.path.endswith("-c000.parquet")
    metadata = pq.ParquetFile(Path(lake.uri(FRAMES)) / staged.path).metadata
    assert metadata.num_rows == 6 and "split" not in metadata.schema.names  # partition values live in the path
    assert {metadata.row_group(0).column(i).compression for i in range(metadata.num_columns)} == {"UNCOMPRESSED"}
    chunks = {
        metadata.row_group(0).column(i).path_in_schema: metadata.row_group(0).column(i)
        for i in range(metadata.num_columns)
    }
    assert (
        chunks["aligned"].statistics is None
        and "PLAIN_DICTIONARY" not in chunks["aligned"].encodings
        and "RLE_DICTIONARY" not in chunks["aligned"].encodings
    )
    assert chunks["video_id"].statistics.min == "vid-7"
    stats = json.loads(staged.stats)
    assert stats["numRecords"] == 6
    assert stats["minValues"]["video_id"] == stats["maxValues"]["video_id"] == "vid-7"
    assert stats["minValues"]["det_score"] == pytest.approx(min(rows.column("det_score").to_pylist()))
    assert stats["maxValues"]["frame_index"] == 5 and stats["nullCount"]["crop_format"] == 6
    assert "aligned" not in stats["minValues"] and "aligned" not in stats["nullCount"]


def test_statistics_leave_out_a_float_column_holding_nan():
    table = pa.table({"x": pa.array([1.0, float("nan"), 3.0], pa.float32()), "s": ["b", None, "a"]})
    stats = json.loads(delta_stats(table))
    assert "x" not in stats["minValues"] and stats["minValues"]["s"] == "a" and stats["maxValues"]["s"] == "b"
    assert stats["nullCount"] == {"x": 0, "s": 1}


def test_replacing_a_video_in_a_shared_file_rewrites_it_in_the_same_commit(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure(FRAMES)
    lake.append(FRAMES, pa.concat_tables([frame_rows("a", 5), frame_rows("b", 7), frame_rows("c", 4)]))  # one file
    (old,) = lake.file_uris(FRAMES)
    before = lake.version(FRAMES)
    new_a = frame_rows("a", 2, seed=1)
    lake.replace_files(FRAMES, key="video_id", values=["a"], staged=write_staged(lake, FRAMES, new_a))
    assert lake.version(FRAMES) == before + 1
    assert counts(lake) == {"a": 2, "b": 7, "c": 4}
    assert old not in lake.file_uris(FRAMES)
    current = lake.read(FRAMES)
    assert sorted_rows(current.filter(pa.compute.equal(current.column("video_id"), "a"))) == sorted_rows(new_a)
    assert sorted_rows(current.filter(pa.compute.not_equal(current.column("video_id"), "a"))) == sorted_rows(
        pa.concat_tables([frame_rows("b", 7), frame_rows("c", 4)])
    )
    # the older version still reads as it was (time travel), the removed file is only superseded
    assert lake.read(FRAMES, version=before).num_rows == 16


def test_replacing_a_video_removes_its_own_files_and_no_other(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for video in ("a", "b"):
        lake.replace_files(
            FRAMES, key="video_id", values=[video], staged=write_staged(lake, FRAMES, frame_rows(video, 3))
        )
    b_files = [f for f in lake.file_uris(FRAMES) if pq.read_table(f, columns=["video_id"]).column(0)[0].as_py() == "b"]
    lake.replace_files(FRAMES, key="video_id", values=["a"], staged=write_staged(lake, FRAMES, frame_rows("a", 1)))
    assert counts(lake) == {"a": 1, "b": 3}
    assert len(lake.file_uris(FRAMES)) == 2 and set(b_files) <= set(lake.file_uris(FRAMES))
    lake.replace_files(FRAMES, key="video_id", values=["a"], staged=[])  # a video now without frames
    assert counts(lake) == {"b": 3}


def test_committing_the_same_staged_files_again_keeps_them_once(tmp_path):
    """Ingest's SIGTERM path commits its pending files; SIGTERM can land after their commit returned and before
    the caller forgot them (seen in CI, 2026-12-04: delta-rs refused to add and remove the same path)."""
    lake = Lake(str(tmp_path / "lake"))
    lake.replace_files(FRAMES, key="video_id", values=["b"], staged=write_staged(lake, FRAMES, frame_rows("b", 2)))
    staged = write_staged(lake, FRAMES, pa.concat_tables([frame_rows("a", 3), frame_rows("c", 2, split="test")]))
    lake.replace_files(FRAMES, key="video_id", values=["a", "c"], staged=staged)
    files, version = sorted(lake.file_uris(FRAMES)), DeltaTable(lake.uri(FRAMES)).version()
    lake.replace_files(FRAMES, key="video_id", values=["a", "c"], staged=staged)
    assert counts(lake) == {"a": 3, "b": 2, "c": 2}
    assert sorted(lake.file_uris(FRAMES)) == files
    assert DeltaTable(lake.uri(FRAMES)).version() == version  # nothing to do: no commit
    # one of them again beside a new file for the other video: the new one replaces the old, the first stays
    newer = write_staged(lake, FRAMES, frame_rows("c", 4, split="test", seed=1))
    lake.replace_files(
        FRAMES, key="video_id", values=["a", "c"], staged=[*[f for f in staged if "train" in f.path], *newer]
    )
    assert counts(lake) == {"a": 3, "b": 2, "c": 4}
    assert len(lake.file_uris(FRAMES)) == 3


def test_an_uncommitted_file_is_never_read_and_vacuum_deletes_it(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.replace_files(FRAMES, key="video_id", values=["a"], staged=write_staged(lake, FRAMES, frame_rows("a", 3)))
    (orphan,) = write_staged(lake, FRAMES, frame_rows("z", 4))  # a worker whose driver died before committing
    assert (Path(lake.uri(FRAMES)) / orphan.path).exists()
    assert counts(lake) == {"a": 3}
    kept = lake.vacuum(FRAMES, retention_hours=168, dry_run=True)
    assert kept.paths == []  # younger than the retention: it may belong to a run still committing
    gone = lake.vacuum(FRAMES, retention_hours=0, enforce=False, dry_run=False)
    assert gone.paths == [orphan.path]
    assert not (Path(lake.uri(FRAMES)) / orphan.path).exists() and counts(lake) == {"a": 3}


def test_a_table_without_a_newer_column_gets_it_before_staged_files_are_committed(tmp_path):
    old = TableSpec(name="things", schema=pa.schema([pa.field("key", pa.string(), nullable=False)]))
    new = TableSpec(
        name="things", schema=pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("extra", pa.int32())])
    )
    lake = Lake(str(tmp_path / "lake"))
    lake.append(old, pa.table({"key": ["x"]}))
    lake.replace_files(
        new,
        key="key",
        values=["y"],
        staged=write_staged(lake, new, pa.table({"key": ["y"], "extra": pa.array([7], pa.int32())})),
    )
    assert sorted(lake.read(new).to_pylist(), key=lambda r: r["key"]) == [
        {"key": "x", "extra": None},
        {"key": "y", "extra": 7},
    ]


def test_a_workers_result_carries_image_bytes_until_it_writes_them(tmp_path):
    """What the ingest driver receives: before `written_to`, the frames' bytes (the driver probe sees them);
    after, their files and columns without bytes."""
    from etl.ingest.video import VideoResult

    result = VideoResult("a", frame_rows("a", 4), pa.table({"video_id": ["a"]}), 0.5)
    assert [what for what, _ in _payloads(result)] == ["arrow table with binary column(s) ['aligned', 'crop']"]
    written = result.written_to(Lake(str(tmp_path / "lake")))
    assert list(_payloads(written)) == [] and written.n_frames == 4
    assert [f.num_records for f in written.staged] == [4]
    assert (tmp_path / "lake" / "frames" / written.staged[0].path).is_file()


def test_photos_written_by_a_worker_replace_their_rows(tmp_path):
    from etl.lake.files import commit_rows

    lake = Lake(str(tmp_path / "lake"))
    columns = {name: [None] * 2 for name in PHOTOS.schema.names}
    columns.update(
        photo_id=["u1/a.jpg", "u2/b.jpg"],
        user=["u1", "u2"],
        status=["ok", "ok"],
        source_present=[True, True],
        aligned=[b"png-a", b"png-b"],
        processed_on=[{"node_id": "n", "host": "h", "node_ip": "1", "gpus": []}] * 2,
    )
    rows = cast_to_spec(pa.table(columns), PHOTOS)
    written = write_rows(lake, PHOTOS, rows)
    assert list(_payloads(written)) == [] and len(written.files) == 1
    assert commit_rows(lake, PHOTOS, key="photo_id", parts=[written]).num_rows == 2
    again = write_rows(lake, PHOTOS, rows.slice(1, 1))
    commit_rows(lake, PHOTOS, key="photo_id", parts=[again])
    assert sorted(lake.read(PHOTOS, columns=["photo_id", "aligned"]).to_pylist(), key=lambda r: r["photo_id"]) == [
        {"photo_id": "u1/a.jpg", "aligned": b"png-a"},
        {"photo_id": "u2/b.jpg", "aligned": b"png-b"},
    ]


def test_a_writer_that_read_before_another_replaced_the_same_video_plans_again(tmp_path):
    """Two ingests of one video at once: the later commit must not just add its files beside the earlier's."""
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure(FRAMES)
    read_version = lake.version(FRAMES)  # the second writer read the table here, when "a" had no files
    lake.replace_files(FRAMES, key="video_id", values=["a"], staged=write_staged(lake, FRAMES, frame_rows("a", 3)))
    late = frame_rows("a", 5, seed=2)
    lake.replace_files(
        FRAMES, key="video_id", values=["a"], staged=write_staged(lake, FRAMES, late), read_version=read_version
    )
    assert sorted_rows(lake.read(FRAMES)) == sorted_rows(late)
    # a writer of another video that read at the same old version is not held up, and keeps both
    lake.replace_files(
        FRAMES,
        key="video_id",
        values=["b"],
        staged=write_staged(lake, FRAMES, frame_rows("b", 2)),
        read_version=read_version,
    )
    assert counts(lake) == {"a": 5, "b": 2}


def test_unlisted_files_are_those_no_current_version_lists(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.replace_files(FRAMES, key="video_id", values=["a"], staged=write_staged(lake, FRAMES, frame_rows("a", 3)))
    (first,) = [Path(uri).relative_to(lake.uri(FRAMES)).as_posix() for uri in lake.file_uris(FRAMES)]
    assert lake.unlisted_files(FRAMES) == []
    (orphan,) = write_staged(lake, FRAMES, frame_rows("z", 1))
    lake.replace_files(FRAMES, key="video_id", values=["a"], staged=write_staged(lake, FRAMES, frame_rows("a", 2)))
    assert lake.unlisted_files(FRAMES) == sorted([first, orphan.path])  # removed by a commit, never committed

"""End to end: `facelake ingest` on the real sample tree, with a real local Ray and real Delta tables."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import PurePosixPath

import pyarrow.compute as pc
import pytest
from checksum import table_checksum

from etl.lake.lake import Lake
from schemas import FRAMES, RUNS, VIDEOS
from tests.conftest import run_ingest_cli

OK_STATUSES = {"ok"}


def canonical_id(rel_path: str) -> str:
    path = PurePosixPath(rel_path)
    stem = path.name[: -len(".m.mov")] if path.name.endswith(".m.mov") else path.name[: -len(".mov")]
    return str(path.parent / stem)


@pytest.fixture(scope="module")
def tables(clean_ingest):
    lake = Lake(str(clean_ingest.lake))
    runs = lake.read(RUNS)  # other tests' audits of this shared lake add their own runs
    return lake.read(VIDEOS), lake.read(FRAMES), runs.filter(pc.equal(runs.column("job"), "ingest"))


def test_a_videos_row_per_mov_with_statuses(sample, tables):
    videos, _, _ = tables
    expected_ids = sorted(canonical_id(v.path) for v in sample.manifest.videos)
    assert sorted(videos.column("video_id").to_pylist()) == expected_ids
    truncated = {canonical_id(v.path) for v in sample.manifest.by_defect("truncated")}
    assert len(truncated) == 1
    rows = {r["video_id"]: r for r in videos.to_pylist()}
    for video_id, row in rows.items():
        if video_id in truncated:
            assert row["status"] == "corrupt"
            assert "cannot open" in row["status_reason"]
            assert row["n_frames"] is None
        else:
            assert row["status"] == "ok", (video_id, row["status_reason"])
            assert row["source_present"] is True
    assert videos.schema.equals(VIDEOS.schema.remove_metadata()) or videos.schema.names == VIDEOS.schema.names


def test_every_processed_video_records_the_ray_node_that_processed_it(tables):
    import socket

    videos, _, _ = tables
    places = videos.column("processed_on").to_pylist()
    assert len(places) == videos.num_rows and None not in places  # every video here went through a task
    [node] = {p["node_id"] for p in places}  # one local Ray node
    assert re.fullmatch(r"[0-9a-f]{56}", node)
    assert {(p["host"], p["gpus"] == []) for p in places} == {(socket.gethostname(), True)}
    assert all(p["node_ip"] for p in places)


def test_a_frames_row_per_decoded_frame(sample, tables):
    videos, frames, _ = tables
    counts = Counter(frames.column("video_id").to_pylist())
    for video in sample.manifest.videos:
        video_id = canonical_id(video.path)
        if "truncated" in video.defects:
            assert counts[video_id] == 0
            continue
        assert counts[video_id] == video.frames, video_id
        indexes = sorted(
            pc.filter(frames.column("frame_index"), pc.equal(frames.column("video_id"), video_id)).to_pylist()
        )
        assert indexes == list(range(video.frames))
    assert frames.num_rows == sum(v.frames for v in sample.manifest.videos if "truncated" not in v.defects)
    n_frames = {r["video_id"]: r["n_frames"] for r in videos.to_pylist()}
    assert all(n_frames[vid] == n for vid, n in counts.items())


def _ok_share(frames, video_id: str, start: int = 0, stop: int | None = None) -> tuple[int, int]:
    rows = [
        r for r in frames.select(["video_id", "frame_index", "det_status"]).to_pylist() if r["video_id"] == video_id
    ]
    rows = [r for r in rows if r["frame_index"] >= start and (stop is None or r["frame_index"] < stop)]
    return sum(r["det_status"] == "ok" for r in rows), len(rows)


def test_live_videos_have_a_face_in_at_least_95_percent_of_frames(sample, tables):
    _, frames, _ = tables
    for video in sample.manifest.videos:
        if video.label != "live" or video.defects and any(d.startswith("face_leaves_frame") for d in video.defects):
            continue
        ok, total = _ok_share(frames, canonical_id(video.path))
        assert total == video.frames and ok / total >= 0.95, (video.path, ok, total)


def test_no_ok_frame_once_the_face_has_left(sample, tables):
    _, frames, _ = tables
    (video,) = sample.manifest.by_defect("face_leaves_frame")
    gone_from = int(next(d for d in video.defects if d.startswith("face_leaves_frame")).split("=")[1])
    # the first frame after which the true box stays None to the end
    last_visible = max(i for i, box in enumerate(video.true_boxes) if box is not None)
    ok_after, total_after = _ok_share(frames, canonical_id(video.path), start=last_visible + 1)
    assert total_after > 0 and ok_after == 0
    ok_before, total_before = _ok_share(frames, canonical_id(video.path), stop=gone_from)
    assert ok_before / total_before >= 0.9


def test_every_face_file_defect_is_recorded(sample, tables):
    videos, frames, _ = tables
    rows = {r["video_id"]: r for r in videos.to_pylist()}
    frame_rows = {
        (r["video_id"], r["frame_index"]): r
        for r in frames.select(["video_id", "frame_index", "face_box", "face_box_source"]).to_pylist()
    }

    (missing,) = sample.manifest.by_defect("face_missing_number")
    line = int(next(d for d in missing.defects if d.startswith("face_missing_number")).split("=")[1])
    repairs = rows[canonical_id(missing.path)]["face_repairs"]
    assert [(r["line"], r["kind"], r["method"]) for r in repairs] == [(line, "missing_number", "interpolated")]
    assert "  " in repairs[0]["original"]
    repaired = frame_rows[(canonical_id(missing.path), line - 1)]
    assert repaired["face_box_source"] == "repaired"
    true_box = missing.true_boxes[line - 1]
    assert max(abs(a - b) for a, b in zip(repaired["face_box"], true_box)) <= 3  # interpolated, not 48

    (zero,) = sample.manifest.by_defect("face_zero_box")
    line = int(next(d for d in zero.defects if d.startswith("face_zero_box")).split("=")[1])
    assert rows[canonical_id(zero.path)]["face_zero_lines"] >= 1
    zero_frame = frame_rows[(canonical_id(zero.path), line - 1)]
    assert zero_frame["face_box"] is None and zero_frame["face_box_source"] == "zero_box"

    (short,) = sample.manifest.by_defect("face_short")
    row = rows[canonical_id(short.path)]
    assert row["face_lines"] == short.face_lines == short.frames - 5
    sources = [frame_rows[(canonical_id(short.path), i)]["face_box_source"] for i in range(short.frames)]
    assert sources[short.face_lines :] == ["missing_line"] * 5

    (m_mov,) = sample.manifest.by_defect("m_mov_name")
    assert m_mov.path.endswith(".m.mov")
    assert rows[canonical_id(m_mov.path)]["name_form"] == "m_mov"
    assert rows[canonical_id(m_mov.path)]["path"] == m_mov.path

    total_repairs = sum(r["n_face_repairs"] for r in rows.values())
    assert total_repairs == 1  # only the missing number is a repair; the others are facts of the data


def test_frames_columns_hold_aligned_faces(tables):
    _, frames, _ = tables
    from etl.faces.encode import decode_image

    ok = frames.filter(pc.equal(frames.column("det_status"), "ok"))
    not_ok = frames.filter(pc.not_equal(frames.column("det_status"), "ok"))
    assert ok.num_rows > 0
    assert ok.column("aligned").null_count == 0 and not_ok.column("aligned").null_count == not_ok.num_rows
    first = ok.slice(0, 1).to_pylist()[0]
    assert decode_image(first["aligned"]).shape == (112, 112, 3)
    assert len(first["landmarks"]) == 5 and all(len(p) == 2 for p in first["landmarks"])
    assert first["det_score"] >= 0.8 and first["detector"] == "mtcnn"
    assert ok.column("sharpness_lapvar").null_count == 0 and ok.column("sharpness_count").null_count == 0
    assert frames.column("crop").null_count == frames.num_rows  # --crops none by default
    assert set(frames.column("split").to_pylist()) == {"train", "test"}


def test_frames_is_partitioned_by_split_and_label(clean_ingest):
    partitions = {
        p.relative_to(clean_ingest.lake / "frames").parts[:2] for p in (clean_ingest.lake / "frames").rglob("*.parquet")
    }
    assert partitions <= {(f"split={s}", f"label={lbl}") for s in ("train", "test") for lbl in ("live", "spoof")}
    assert len(partitions) == 4


def test_source_tree_is_byte_identical_after_ingest(clean_ingest):
    assert clean_ingest.digest_after == clean_ingest.digest_before


def test_run_is_recorded_with_counts(sample, tables):
    _, frames, runs = tables
    (run,) = runs.to_pylist()
    assert run["status"] == "succeeded" and run["job"] == "ingest"
    counts = json.loads(run["counts_json"])
    assert counts["videos_found"] == len(sample.manifest.videos)
    assert counts["videos_processed"] == len(sample.manifest.videos)
    assert counts["frames"] == frames.num_rows
    assert counts["video_status"] == {"ok": len(sample.manifest.videos) - 1, "corrupt": 1}
    assert set(frames.column("run_id").to_pylist()) == {run["run_id"]}


def test_rerun_adds_nothing(sample, clean_ingest):
    lake = Lake(str(clean_ingest.lake))
    before = {
        spec.name: (lake.version(spec), table_checksum(lake.read(spec), keys=keys))
        for spec, keys in ((VIDEOS, ["video_id"]), (FRAMES, ["video_id", "frame_index"]))
    }
    result = run_ingest_cli(sample.root, clean_ingest.lake)
    after = {
        spec.name: (lake.version(spec), table_checksum(lake.read(spec), keys=keys))
        for spec, keys in ((VIDEOS, ["video_id"]), (FRAMES, ["video_id", "frame_index"]))
    }
    assert after == before
    assert "0 processed" in result.stderr
    runs = [r for r in lake.read(RUNS).to_pylist() if r["job"] == "ingest"]
    assert sorted(r["status"] for r in runs) == ["succeeded", "succeeded"]


def test_run_records_its_settings_as_json(tables):
    _, _, runs = tables
    args = json.loads(runs.to_pylist()[0]["args_json"])
    assert args["config"]["detector"]["stage_thresholds"] == [0.6, 0.7, 0.7]
    assert args["config"]["detector"]["min_face_size"] == 40
    assert args["config"]["crops"] == "none" and args["config"]["frame_stride"] == 1


def test_workers_write_the_frames_and_the_driver_receives_no_frame_bytes(clean_ingest, tables):
    """The clean ingest ran under tests/driver_bytes_probe.py: nothing with image bytes reached its driver, while
    every frame's aligned face is in the lake, in files each worker wrote for its own video."""
    import pyarrow.parquet as pq

    assert clean_ingest.driver_payloads == []
    _, frames, _ = tables
    ok = frames.filter(pc.equal(frames.column("det_status"), "ok"))
    assert ok.num_rows > 100 and all(len(png) > 100 for png in ok.column("aligned").to_pylist())
    lake = Lake(str(clean_ingest.lake))
    per_file = [set(pq.read_table(uri, columns=["video_id"]).column(0).to_pylist()) for uri in lake.file_uris(FRAMES)]
    assert all(len(videos) == 1 for videos in per_file)  # one video per file: its worker's
    assert sorted(next(iter(v)) for v in per_file) == sorted(set(frames.column("video_id").to_pylist()))

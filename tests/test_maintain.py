"""`facelake maintain` on real local Delta tables built from many tiny appends (no ingest, no mocks).

A train run's frames version is made old by shifting every timestamp of the frames log
back 30 days (commit times, removal times, file times): the same log a 30-day-old lake
has, so vacuum and the retention floor see real ages.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pytest

from etl.lake.files import write_staged
from etl.lake.lake import Lake
from etl.lake.rows import cast_to_spec
from jobs import maintain
from schemas import FRAMES, RUNS, TRAIN_RUNS, VIDEOS
from tests.conftest import run_job_cli

DAY_MS = 24 * 3600 * 1000


def _frames(batch: int, *, split: str = "Train", n: int = 3) -> pa.Table:
    rows = [
        {
            "video_id": f"v{batch:02d}",
            "frame_index": i,
            "split": split,
            "label": "live",
            "det_status": "ok",
            "det_score": 0.5 + i / 10,
            "run_id": f"ingest-{batch}",
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=FRAMES.schema)


def _videos(batch: int) -> pa.Table:
    return pa.Table.from_pylist(
        [{"video_id": f"v{batch:02d}", "status": "ok", "source_present": True, "n_frames": 3}], schema=VIDEOS.schema
    )


def _rows(lake: Lake, spec, version: int | None = None) -> list[dict]:
    key = ("video_id", "frame_index") if spec is FRAMES else ("video_id",)
    return sorted(lake.read(spec, version=version).to_pylist(), key=lambda r: tuple(r[k] for k in key))


def _parquet_on_disk(lake: Lake, spec) -> set[str]:
    return {str(p.relative_to(lake.uri(spec))) for p in Path(lake.uri(spec)).rglob("*.parquet")}


def _current_files(lake: Lake, spec) -> set[str]:
    return {uri.removeprefix(lake.uri(spec) + "/") for uri in lake.file_uris(spec)}


def _all_files(lake: Lake) -> dict[str, int]:
    return {str(p.relative_to(lake.root)): p.stat().st_mtime_ns for p in Path(lake.root).rglob("*") if p.is_file()}


def _maintain_runs(lake: Lake) -> list[dict]:
    rows = [r for r in lake.read(RUNS).to_pylist() if r["job"] == "maintain"]
    return sorted(rows, key=lambda r: r["started_at"])


def _counts(run: dict) -> dict:
    return json.loads(run["counts_json"])


def _age_log(lake: Lake, spec, days: int) -> None:
    """Every timestamp of the table's log moved `days` back, as if all of it happened then."""
    shift = days * DAY_MS
    for path in sorted(Path(lake.uri(spec), "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for action in actions:
            if "commitInfo" in action:
                action["commitInfo"]["timestamp"] -= shift
            if "remove" in action and action["remove"].get("deletionTimestamp"):
                action["remove"]["deletionTimestamp"] -= shift
            if "add" in action:
                action["add"]["modificationTime"] -= shift
        path.write_text("\n".join(json.dumps(a) for a in actions) + "\n")


@pytest.fixture
def small_lake(tmp_path) -> Lake:
    """frames: 20 appends over 2 partitions (20 files); videos: 5 appends (5 files)."""
    lake = Lake(str(tmp_path / "lake"))
    for batch in range(20):
        lake.append(FRAMES, _frames(batch, split="Train" if batch % 2 else "Test"))
    for batch in range(5):
        lake.append(VIDEOS, _videos(batch))
    return lake


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--retention-hours", "24"], "retention_hours 24 is below the safe minimum of 168"),
        (["--retention-hours", "-1", "--force"], "retention_hours must be a whole number >= 0, got -1"),
        (["--target-size", "0"], "target_size_mb must be in [1, 10240] MB, got 0"),
    ],
)
def test_bad_settings_exit_2_before_any_work(tmp_path, caplog, extra, message):
    lake = Lake(str(tmp_path / "lake"))
    for batch in range(3):
        lake.append(FRAMES, _frames(batch))
    before = _all_files(lake)
    with caplog.at_level(logging.ERROR):
        assert maintain.main(["--lake", lake.root, *extra]) == 2
    assert message in caplog.text
    assert _all_files(lake) == before
    assert not lake.exists(RUNS)


def test_a_folder_without_tables_exits_2_and_stays_empty(tmp_path):
    from etl.lake.lake import LakeNotFoundError  # run_job turns it into one line and exit 2 (tests/test_cli_help.py)

    with pytest.raises(LakeNotFoundError, match=f"no facelake lake at {tmp_path}: none of its tables"):
        maintain.main(["--lake", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []


def test_unknown_table_is_refused_by_argparse(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        maintain.main(["--lake", str(tmp_path), "--only", "nope"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_compaction_keeps_rows_and_history_then_forced_vacuum_deletes_what_it_superseded(small_lake):
    lake = small_lake
    frames_before, videos_before = _rows(lake, FRAMES), _rows(lake, VIDEOS)
    old_version = lake.version(FRAMES)
    originals = lake.file_stats(FRAMES)
    # a file a worker wrote for a run that died before committing it: in no version, never read
    (orphan,) = write_staged(lake, FRAMES, cast_to_spec(_frames(99, split="Train"), FRAMES))
    assert originals.num_rows == 20 and len(_parquet_on_disk(lake, FRAMES)) == 21
    assert _rows(lake, FRAMES) == frames_before

    result = run_job_cli("maintain", "--lake", lake.root)

    assert len(lake.file_uris(FRAMES)) == 2  # one file per partition
    assert sorted(lake.file_stats(FRAMES).column("partition").to_pylist()) == [
        "split=Test/label=live",
        "split=Train/label=live",
    ]
    assert len(lake.file_uris(VIDEOS)) == 1
    assert _rows(lake, FRAMES) == frames_before and _rows(lake, VIDEOS) == videos_before
    assert lake.version(FRAMES) == old_version + 1
    # 168 h retention: nothing is old enough to go, so time travel still reads the old files (and the
    # uncommitted file, which may belong to a run still going, stays too)
    assert len(_parquet_on_disk(lake, FRAMES)) == 23 and orphan.path in _parquet_on_disk(lake, FRAMES)
    assert _rows(lake, FRAMES, version=old_version) == frames_before
    assert "files before" in result.stderr and "20 -> 2" in result.stderr
    [run] = _maintain_runs(lake)
    assert run["status"] == "succeeded" and run["error"] is None
    frames = _counts(run)["tables"]["frames"]
    assert (
        frames["files_before"],
        frames["files_after"],
        frames["files_compacted"],
        frames["files_written"],
        frames["partitions_compacted"],
        frames["files_vacuumed"],
    ) == (20, 2, 20, 2, 2, 0)
    assert (frames["retention_hours"], frames["retention_reason"]) == (168, "requested")
    assert _counts(run)["tables"]["videos"]["files_compacted"] == 5
    assert "runs" not in _counts(run)["tables"]  # the runs table did not exist yet when the run began

    run_job_cli("maintain", "--lake", lake.root, "--force", "--retention-hours", "0")

    current = _current_files(lake, FRAMES)
    assert _parquet_on_disk(lake, FRAMES) == current and len(current) == 2
    assert len(_parquet_on_disk(lake, VIDEOS)) == 1
    assert _rows(lake, FRAMES) == frames_before and _rows(lake, VIDEOS) == videos_before
    with pytest.raises(OSError):  # the version before compaction lost its files, as asked
        lake.read(FRAMES, version=old_version)
    second = _maintain_runs(lake)[-1]
    assert second["status"] == "succeeded"
    frames = _counts(second)["tables"]["frames"]
    assert (frames["files_compacted"], frames["files_vacuumed"], frames["retention_hours"]) == (0, 21, 0)
    assert frames["bytes_freed"] == sum(originals.column("size_bytes").to_pylist()) + orphan.size
    assert frames["retention_enforced"] is False
    assert _counts(second)["tables"]["videos"]["files_vacuumed"] == 5


def test_a_train_runs_frames_version_stays_readable_unless_forced(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for batch in range(4):  # versions 0..3, one file each
        lake.append(FRAMES, _frames(batch))
    rows_v1 = _rows(lake, FRAMES, version=1)
    train = {
        "train_id": "train-20250101T000000Z-abcd/P1",
        "run_id": "train-20250101T000000Z-abcd",
        "protocol": "P1",
        "frames_version": 1,
    }
    lake.append(TRAIN_RUNS, pa.Table.from_pylist([train], schema=TRAIN_RUNS.schema))
    lake.compact(FRAMES)  # version 4: the 4 files version 1 reads are superseded
    _age_log(lake, FRAMES, days=30)  # ... 30 days ago, like everything else in frames

    result = run_job_cli("maintain", "--lake", lake.root)

    assert "frames retention raised from 168 h to 722 h" in result.stderr
    assert f"train run {train['train_id']} read frames version 1" in result.stderr
    assert _rows(lake, FRAMES, version=1) == rows_v1
    assert len(_parquet_on_disk(lake, FRAMES)) == 5
    [run] = _maintain_runs(lake)
    frames = _counts(run)["tables"]["frames"]
    assert frames["retention_hours"] == 722  # 720 h old, rounded up, plus an hour's margin
    assert frames["retention_reason"] == f"raised from 168 h: train run {train['train_id']} read frames version 1"
    assert frames["kept_versions"] == [1] and frames["files_vacuumed"] == 0
    assert _counts(run)["tables"]["train_runs"]["retention_hours"] == 168
    assert _counts(run)["train_runs_protected"] == [train["train_id"]]

    # the floor is what kept them: --force vacuums at the plain 168 h and the version is gone
    forced = run_job_cli("maintain", "--lake", lake.root, "--force")
    assert "--force: frames retention 168 h is below the 722 h" in forced.stderr
    assert len(_parquet_on_disk(lake, FRAMES)) == 1
    with pytest.raises(OSError):
        lake.read(FRAMES, version=1)
    frames = _counts(_maintain_runs(lake)[-1])["tables"]["frames"]
    assert (frames["files_vacuumed"], frames["retention_hours"]) == (4, 168)
    assert frames["retention_reason"].startswith("forced below 722 h")


def test_dry_run_lists_what_vacuum_would_delete_and_changes_nothing(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for batch in range(6):
        lake.append(FRAMES, _frames(batch))
    lake.compact(FRAMES)  # 6 files superseded by 1
    superseded = _parquet_on_disk(lake, FRAMES) - _current_files(lake, FRAMES)
    for batch in range(6, 9):
        lake.append(FRAMES, _frames(batch))  # 3 small files compaction would take
    before, version = _all_files(lake), lake.version(FRAMES)

    result = run_job_cli("maintain", "--lake", lake.root, "--dry-run", "--force", "--retention-hours", "0")

    listed = {line.removeprefix(lake.uri(FRAMES) + "/") for line in result.stdout.splitlines()}
    assert listed == superseded and len(listed) == 6
    assert _all_files(lake) == before  # no compaction, no vacuum, no runs row, no catalog
    assert lake.version(FRAMES) == version and len(lake.file_uris(FRAMES)) == 4
    assert "dry run (nothing changed)" in result.stderr
    assert "~4 small" in result.stderr  # the compacted file and the 3 appends share a partition


def test_a_failing_table_fails_the_run_but_the_others_are_maintained(tmp_path, caplog):
    lake = Lake(str(tmp_path / "lake"))
    for batch in range(5):
        lake.append(FRAMES, _frames(batch))
    # a videos table that lost one of its data files (a disk error): its compaction fails
    lake.append(VIDEOS, _videos(0))
    lake.append(VIDEOS, _videos(1))
    lost = sorted(_parquet_on_disk(lake, VIDEOS))[0]
    (Path(lake.uri(VIDEOS)) / lost).unlink()

    with caplog.at_level(logging.INFO):
        assert maintain.main(["--lake", lake.root]) == 1

    assert len(lake.file_uris(FRAMES)) == 1
    assert len(_parquet_on_disk(lake, VIDEOS)) == 1 and len(lake.file_uris(VIDEOS)) == 2  # nothing rewritten
    [run] = _maintain_runs(lake)
    assert run["status"] == "failed"
    assert run["error"].startswith("videos: ") and lost.split("/")[-1] in run["error"], run["error"]
    counts = _counts(run)
    assert counts["tables"]["frames"]["files_compacted"] == 5 and counts["tables"]["frames"]["error"] is None
    assert (counts["tables_failed"], counts["tables_maintained"]) == (1, 1)
    assert "maintenance failed for videos" in caplog.text

"""`facelake ingest --watch`: passes every --interval seconds pick up what arrived, once each, until SIGTERM."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.compute as pc
from conftest import REPO, ingest_command, run_job_cli, subprocess_env

from etl.lake.lake import Lake
from schemas import FRAMES, RUNS, VIDEOS


def wait_for(log_path: Path, text: str, process: subprocess.Popen, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = log_path.read_text()
        if text in log:
            return log
        if process.poll() is not None:
            raise AssertionError(f"ingest --watch exited {process.returncode} before {text!r}:\n{log[-4000:]}")
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} within {timeout} s:\n{log_path.read_text()[-4000:]}")


def copy_split(tree: Path, split: str, into: Path) -> None:
    """Copy one split's files, each video last and by rename, as a careful uploader would."""
    for path in sorted((tree / split).rglob("*")):
        if path.is_file():
            target = into / path.relative_to(tree)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.part")
            shutil.copyfile(path, partial)
            partial.rename(target)


def test_watch_ingests_each_new_video_once_and_stops_on_sigterm(tmp_path):
    from etl.synthetic.siw_tree import write_sample_tree

    manifest = write_sample_tree(tmp_path / "arrivals", subjects=2, seconds=0.5, seed=5)
    train = sorted(v.path for v in manifest.videos if v.split == "train")
    test = sorted(v.path for v in manifest.videos if v.split == "test")
    source, lake_dir, log_path = tmp_path / "siw", tmp_path / "lake", tmp_path / "watch.log"
    copy_split(tmp_path / "arrivals", "Train", source)

    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [*ingest_command(source, lake_dir), "--watch", "--interval", "3"],
            cwd=REPO,
            env=subprocess_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(log_path, "watch: pass 1:", process)
        copy_split(tmp_path / "arrivals", "Test", source)  # arrives between two passes
        wait_for(log_path, "watch: pass 3:", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log = log_path.read_text()
    assert f"watch: pass 1: {len(train)} found, {len(train)} processed, 0 unchanged" in log
    assert f"watch: pass 2: {len(train) + len(test)} found, {len(test)} processed, {len(train)} unchanged" in log
    assert f"watch: pass 3: {len(train) + len(test)} found, 0 processed, {len(train) + len(test)} unchanged" in log
    assert "watch: stopped after 3 passes" in log

    lake = Lake(str(lake_dir))
    videos = lake.read(VIDEOS, columns=["video_id", "split", "run_id"])
    ids = videos.column("video_id").to_pylist()
    assert len(ids) == len(set(ids)) == len(train) + len(test)
    frames = lake.read(FRAMES, columns=["video_id", "frame_index"])
    keys = list(zip(frames.column("video_id").to_pylist(), frames.column("frame_index").to_pylist()))
    assert len(keys) == len(set(keys))  # no frame twice
    runs = lake.read(RUNS)
    ingest_runs = runs.filter(pc.equal(runs.column("job"), "ingest")).sort_by("started_at").to_pylist()
    assert [r["status"] for r in ingest_runs] == ["succeeded"] * 3
    # every video's row comes from the pass that first saw it
    first, second = ingest_runs[0]["run_id"], ingest_runs[1]["run_id"]
    runs_by_split = {
        (split, run) for split, run in zip(videos.column("split").to_pylist(), videos.column("run_id").to_pylist())
    }
    assert runs_by_split == {("train", first), ("test", second)}


def test_watch_refuses_a_bad_interval(tmp_path):
    (tmp_path / "siw").mkdir()
    log = run_job_cli(
        "ingest",
        "--source",
        str(tmp_path / "siw"),
        "--lake",
        str(tmp_path / "lake"),
        "--watch",
        "--interval",
        "0",
        expect=2,
    ).stderr
    assert "--interval must be > 0" in log
    assert not (tmp_path / "lake").exists()

"""Driver SIGKILL in the middle of `register` and of `embed`, then a rerun: the same contents as a clean run.

(ingest's faults — driver SIGKILL, a killed Ray worker, SIGTERM, a video over its memory
limit — are in tests/test_ingest_recovery.py.) Each kill lands while the job's Ray tasks
are running; a reader reads the job's table throughout and never fails. The clean run is
the session's registry lake (conftest `registry`), never written here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
from checksum import table_checksum
from conftest import REPO, run_job_cli, subprocess_env, tree_digest

from etl.lake.lake import Lake
from schemas import EMBEDDINGS, PHOTOS, RUNS
from tests.faults import ReadsThroughout, reap

KEYS = {PHOTOS.name: ["photo_id"], EMBEDDINGS.name: ["source", "face_key", "model"]}


def _checksum(lake, spec) -> str:
    return table_checksum(Lake(str(lake)).read(spec), keys=KEYS[spec.name])


def _rows(lake, spec) -> int:
    try:
        return Lake(str(lake)).read(spec, columns=[KEYS[spec.name][-1]]).num_rows
    except Exception:  # noqa: BLE001 - not created yet
        return 0


def _busy_workers(driver: psutil.Process, marker: str) -> list[psutil.Process]:
    found = []
    for proc in driver.children(recursive=True):
        try:
            if any(marker in part for part in proc.cmdline()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _kill_driver_when(process: subprocess.Popen, ready, *, timeout: float = 300) -> None:
    """SIGKILL the driver once `ready()` holds, then kill the local Ray it started."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"the job ended before the kill: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.05)
    leftovers = psutil.Process(process.pid).children(recursive=True)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    reap(leftovers)
    assert process.returncode == -signal.SIGKILL


def _start(module: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", f"jobs.{module}", *args],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_register_killed_mid_run_then_rerun_equals_clean_run(registry, tmp_path):
    lake, before = tmp_path / "lake", tree_digest(registry.root)
    total = Lake(str(registry.lake)).read(PHOTOS).num_rows
    process = _start(
        "register", "--source", str(registry.root), "--lake", str(lake), "--photos-per-task", "1", "--workers", "1"
    )
    with ReadsThroughout(lake, (PHOTOS,)) as reader:
        _kill_driver_when(process, lambda: _rows(lake, PHOTOS) >= 3)
    assert reader.errors == [] and reader.reads >= 1
    partial = _rows(lake, PHOTOS)
    assert 3 <= partial < total, "the kill must land mid-run"

    run_job_cli("register", "--source", str(registry.root), "--lake", str(lake))
    assert _checksum(lake, PHOTOS) == _checksum(registry.lake, PHOTOS)
    assert tree_digest(registry.root) == before
    statuses = sorted(r["status"] for r in Lake(str(lake)).read(RUNS).to_pylist())
    assert statuses == ["running", "succeeded"]  # the killed run stays visible as never finished


def test_embed_killed_mid_run_then_rerun_equals_clean_run(registry, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(registry.lake, lake)
    Lake(str(lake)).replace_where(EMBEDDINGS, EMBEDDINGS.schema.empty_table(), predicate="true")  # start unembedded
    assert _rows(lake, EMBEDDINGS) == 0
    process = _start("embed", "--lake", str(lake), "--source", "photos", "--workers", "1", "--batch-size", "1")
    driver = psutil.Process(process.pid)
    with ReadsThroughout(lake, (EMBEDDINGS, PHOTOS)) as reader:
        _kill_driver_when(process, lambda: bool(_busy_workers(driver, "EmbedStage")))
    assert reader.errors == [] and reader.reads >= 1
    assert _rows(lake, EMBEDDINGS) < _rows(registry.lake, EMBEDDINGS)  # the kill landed before the end

    run_job_cli("embed", "--lake", str(lake), "--source", "photos")
    assert _checksum(lake, EMBEDDINGS) == _checksum(registry.lake, EMBEDDINGS)
    assert _checksum(lake, PHOTOS) == _checksum(registry.lake, PHOTOS)

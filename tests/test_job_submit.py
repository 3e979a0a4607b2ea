"""Jobs under `ray job submit` against a real `ray start --head` on 127.0.0.1.

The head runs from this venv (so the job's `python` is the one with facelake's
dependencies, as it is in the worker image) with token authentication on and a token
of its own; every port is chosen free, so a Ray started by another process on the same
machine cannot collide with it. The commands are the ones docs/cluster.md gives.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest
from conftest import REPO

from etl.lake.lake import Lake
from schemas import RUNS, VIDEOS

RAY = str(Path(sys.executable).with_name("ray"))


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """`ray start --head` on 127.0.0.1; yields (dashboard address, environment for the ray CLI)."""
    token_file = tmp_path_factory.mktemp("ray-auth") / "auth_token"
    token_file.write_text(secrets.token_hex(32))
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token_file),
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
    )
    gcs, dashboard, agent_http, agent_grpc, metrics, runtime_env_agent = free_ports(6)
    subprocess.run(
        [
            RAY,
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(gcs),
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(dashboard),
            "--dashboard-agent-listen-port",
            str(agent_http),
            "--dashboard-agent-grpc-port",
            str(agent_grpc),
            "--metrics-export-port",
            str(metrics),
            "--runtime-env-agent-port",
            str(runtime_env_agent),
            "--num-cpus",
            "2",
            "--disable-usage-stats",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def submit(head, submission_id: str, *entrypoint: str, expect_success: bool = True) -> str:
    """`ray job submit ... -- python -m jobs.<job> ...`; waits for the end, returns the job's log."""
    address, env = head
    result = subprocess.run(
        [
            RAY,
            "job",
            "submit",
            "--address",
            address,
            "--working-dir",
            ".",
            "--submission-id",
            submission_id,
            "--",
            *entrypoint,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    status = subprocess.run(
        [RAY, "job", "status", "--address", address, submission_id],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    ).stdout
    expected = f"Job '{submission_id}' {'succeeded' if expect_success else 'failed'}"
    assert expected in status, f"job {submission_id}: {status}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert (result.returncode == 0) == expect_success, result.returncode
    return subprocess.run(
        [RAY, "job", "logs", "--address", address, submission_id],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def test_ingest_then_audit_as_submitted_jobs(ray_head, sample, tmp_path):
    lake_dir = tmp_path / "lake"
    log = submit(
        ray_head,
        "facelake-ingest-1",
        "python",
        "-m",
        "jobs.ingest",
        "--source",
        str(sample.root),
        "--lake",
        str(lake_dir),
        "--no-progress",
    )
    assert "connecting to the Ray cluster at" in log  # the job used the cluster, not a Ray of its own
    lake = Lake(str(lake_dir))
    videos = lake.read(VIDEOS, columns=["video_id", "status"])
    assert videos.num_rows == len(sample.manifest.videos)
    runs = lake.read(RUNS).filter(pc.equal(lake.read(RUNS).column("job"), "ingest")).to_pylist()
    assert [r["status"] for r in runs] == ["succeeded"]

    log = submit(
        ray_head,
        "facelake-audit-1",
        "python",
        "-m",
        "jobs.audit",
        "--lake",
        str(lake_dir),
        "--only",
        "video_detection",
        "--format",
        "json",
    )
    document = json.loads(next(line for line in log.splitlines() if line.startswith('{"video_detection"')))
    rows = document["video_detection"]["rows"]
    assert sorted(r["video_id"] for r in rows) == sorted(videos.column("video_id").to_pylist())
    runs = lake.read(RUNS)
    assert runs.filter(pc.equal(runs.column("job"), "audit")).num_rows == 0  # the read-only audit records nothing


def test_a_failing_job_is_reported_failed(ray_head, tmp_path):
    log = submit(
        ray_head,
        "facelake-ingest-missing",
        "python",
        "-m",
        "jobs.ingest",
        "--source",
        str(tmp_path / "no-such-tree"),
        "--lake",
        str(tmp_path / "lake"),
        "--no-progress",
        expect_success=False,
    )
    assert "no-such-tree" in log

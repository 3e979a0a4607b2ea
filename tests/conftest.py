"""Session fixtures: one tiny real sample tree and one clean ingest of it, shared by tests.

The sample is made by `facelake sample` code from real face photos shipped in installed
packages; the ingest is the real CLI in a subprocess with a real local Ray.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ARGS = {"subjects": 2, "seconds": 1.0, "seed": 7}
# the local S3 server (`s3` fixture): one bucket, and a secret that must appear nowhere it is not given
BUCKET = "facelake-test"
SECRET = "s3cr3t-Kz9wQ4vN7xLp2RtY"
ACCESS_KEY = "AKIDFACELAKETEST"


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under root (to prove a tree was not touched)."""
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            out[str(path.relative_to(root))] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return out


def ingest_command(source: Path, lake: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jobs.ingest", "--source", str(source), "--lake", str(lake), "--no-progress", *extra]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return env


def run_ingest_cli(source: Path, lake: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(ingest_command(source, lake, *extra), cwd=REPO, env=subprocess_env(),
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"ingest exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def run_job_cli(module: str, *args: str, timeout: float = 600, expect: int = 0) -> subprocess.CompletedProcess:
    """`python -m jobs.<module> args...` in a subprocess with a fresh local Ray."""
    result = subprocess.run([sys.executable, "-m", f"jobs.{module}", *args], cwd=REPO, env=subprocess_env(),
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != expect:
        raise AssertionError(f"{module} exited {result.returncode}, expected {expect}:\n{result.stderr[-4000:]}")
    return result


@dataclass
class Sample:
    root: Path
    manifest: object  # etl.sample_tree.SampleManifest


@dataclass
class CleanIngest:
    lake: Path
    digest_before: dict
    digest_after: dict
    log: str


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> Sample:
    from etl.sample_tree import write_sample_tree

    root = tmp_path_factory.mktemp("siw") / "tree"
    manifest = write_sample_tree(root, **SAMPLE_ARGS)
    return Sample(root=root, manifest=manifest)


@pytest.fixture(scope="session")
def clean_ingest(sample, tmp_path_factory) -> CleanIngest:
    lake = tmp_path_factory.mktemp("lake-clean") / "lake"
    before = tree_digest(sample.root)
    result = run_ingest_cli(sample.root, lake)
    return CleanIngest(lake=lake, digest_before=before, digest_after=tree_digest(sample.root), log=result.stderr)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 on a free port of 127.0.0.1 with one bucket; yields the environment for jobs.

    The endpoint and region come from the environment, the credentials from the
    FACELAKE_STORAGE_OPTIONS file, so both sources are exercised.
    """
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "s3_server.py")], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith("PORT "), f"the S3 server did not start: {line!r}"
        endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        options = tmp_path_factory.mktemp("s3") / "storage.json"
        options.write_text(json.dumps({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET}))
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
               "FACELAKE_STORAGE_OPTIONS": str(options)}
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                              aws_secret_access_key=SECRET, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield {"env": env, "client": client, "logs": []}
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=30)


def s3_job_env(s3) -> dict[str, str]:
    """The environment of a job run against the `s3` fixture's server: its options, no stray AWS credentials."""
    env = dict(os.environ)
    for name in ("RAY_ADDRESS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **s3["env"])
    return env

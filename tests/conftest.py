"""Session fixtures: one tiny real sample tree and one clean ingest of it, shared by tests.

The sample is made by `facelake sample` code from real face photos shipped in installed
packages; the ingest is the real CLI in a subprocess with a real local Ray.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ARGS = {"subjects": 2, "seconds": 1.0, "seed": 7}


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

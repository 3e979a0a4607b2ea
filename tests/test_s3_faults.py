"""Transient storage errors on an S3 lake (issue 7).

The lake is on the tests' S3 server (moto, `s3` fixture) seen through a fault-injecting
proxy (`tests/s3_fault_proxy.py`) that answers a share of the requests with
`503 SlowDown` / `500 InternalError` or drops the connection, always before the request
reaches the store. The real `facelake ingest` and `facelake register` run through it
with facelake's retry policy (`etl.lake.storage`: bounded retries with backoff, transient
errors only); a run that fails anyway is rerun once. The end state is compared with a
clean run of the same tree on a fault-free S3 lake by a checksum of the sorted table
contents: nothing lost, nothing duplicated. While ingest runs, a reader polls the lake
through the same faulty proxy: every read must succeed and show each frame once.

Not every transient error can be retried by the client: a connection reset before any
answer to a conditional commit `PUT _delta_log/N.json` is not (object_store cannot know
whether the store did it), so the run fails; the rerun then ends exactly like a clean
run. A commit whose answer is lost after the store did it (`lost`) is retried by
object_store and meets its own commit (`412`); delta-rs takes it for a concurrent
writer's and commits again at N+1 (or finds nothing left to do): no row is lost or
doubled, for every kind of commit facelake makes.

A permanent error (`403 AccessDenied` on every request) must not be retried: the job
fails at once, exit non-zero, with the store's answer in its message and no secret.
The retry bound itself (`max_retries`, `retry_timeout`) is checked on delta-rs and on
pyarrow's S3FileSystem with a proxy that fails every attempt.

The S3 server is the session's (conftest `s3`); this module keeps to `s3://BUCKET/s3-faults/`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from conftest import BUCKET, REPO, SECRET, s3_job_env

SHARE = 0.15  # of requests failed in the faulty runs
SEED = int(os.environ.get("FACELAKE_FAULT_SEED", "3"))  # which ones: another seed, other requests
INGEST = ("--no-progress", "--frame-stride", "5", "--workers", "1", "--commit-every", "2")
COMMIT_PUT = r"^PUT /[^?]*/_delta_log/\d+\.json$"
PREFIX = "s3-faults"  # this module's objects on the session's S3 server
TIMES: dict[str, float] = {}


class FaultProxy:
    """`tests/s3_fault_proxy.py` in its own process, in front of the `s3` fixture's server."""

    DEFAULTS = {
        "share": 0.0,
        "every": 0,
        "seed": 0,
        "faults": ["slowdown", "internal", "drop"],
        "max_consecutive": 1,
        "times": 0,
        "budget": 0,
        "match": None,
        "short_range": 0,
        "deny": None,
    }

    def __init__(self, upstream: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "s3_fault_proxy.py"), "--upstream", upstream],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        assert line.startswith("PORT "), f"the fault proxy did not start: {line!r}"
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def set(self, **settings) -> dict:
        """Replace every setting (those not given go back to no faults) and zero the counts."""
        return self._call(json.dumps({**self.DEFAULTS, **settings, "reset": True}).encode())

    def report(self) -> dict:
        return self._call(None)

    def _call(self, body: bytes | None) -> dict:
        request = urllib.request.Request(f"{self.url}/__faults", data=body, method="POST" if body else "GET")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def fault_proxy(s3):
    proxy = FaultProxy(s3["env"]["AWS_ENDPOINT_URL"])
    yield proxy
    proxy.close()


@pytest.fixture
def proxy(fault_proxy):
    """The module's proxy, injecting nothing at the start and the end of each test."""
    fault_proxy.set()
    yield fault_proxy
    fault_proxy.set()


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """A small SiW tree (2 subjects, 13 videos of 15 frames). (The photos: the session's `registry_tree`.)"""
    from etl.synthetic.siw_tree import write_sample_tree

    base = tmp_path_factory.mktemp("fault-trees")
    write_sample_tree(base / "siw", subjects=2, seconds=0.5, seed=7)
    return base


def _env(s3, endpoint: str | None = None) -> dict[str, str]:
    return {**s3["env"], "AWS_ENDPOINT_URL": endpoint} if endpoint else dict(s3["env"])


def _job(s3, endpoint: str | None, module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m jobs.<module>` against the store at `endpoint` (the fault-free server when None)."""
    env = s3_job_env(s3)
    env.update(_env(s3, endpoint))
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", f"jobs.{module}", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result.seconds = time.perf_counter() - started
    s3["logs"].append(result.stdout + result.stderr)
    return result


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{' '.join(result.args[2:4])} exited {result.returncode}:\n{result.stderr[-4000:]}"
    return result


def _uri(name: str) -> str:
    return f"s3://{BUCKET}/{PREFIX}/{name}"


def _lake(s3, name: str, endpoint: str | None = None):
    from etl.lake.lake import Lake

    return Lake.open(_uri(name), environ=_env(s3, endpoint), create=True)


VIDEO_KEYS = {"videos": ["video_id"], "frames": ["video_id", "frame_index"]}


def _checksums(lake, keys: dict[str, list[str]]) -> dict[str, str]:
    from checksum import table_checksum

    from schemas import ALL_TABLES

    return {name: table_checksum(lake.read(ALL_TABLES[name]), keys=columns) for name, columns in keys.items()}


def _ingest(s3, endpoint: str | None, trees, name: str) -> subprocess.CompletedProcess:
    return _job(s3, endpoint, "ingest", "--source", str(trees / "siw"), "--lake", _uri(name), *INGEST)


@pytest.fixture(scope="module")
def clean_ingest(s3, trees) -> dict[str, str]:
    """The checksums of `videos` and `frames` after a clean ingest of the tree on the fault-free store."""
    TIMES["ingest clean"] = _ok(_ingest(s3, None, trees, "ingest-clean")).seconds
    return _checksums(_lake(s3, "ingest-clean"), VIDEO_KEYS)


class Reader(threading.Thread):
    """Reads `frames` and `videos` through the faulty proxy over and over until stopped.

    Every read must succeed; no read may show a frame or a video twice; the number of
    frames seen never goes down (a video's frames are replaced in one commit)."""

    def __init__(self, s3, name: str, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.lake = _lake(s3, name, endpoint)
        self.stop = threading.Event()
        self.reads, self.errors, self.counts = 0, [], []

    def run(self) -> None:
        from schemas import FRAMES, VIDEOS

        while not self.stop.wait(0.3):
            try:
                frames = self.lake.read(FRAMES, columns=["video_id", "frame_index"])
                videos = self.lake.read(VIDEOS, columns=["video_id"]).column("video_id").to_pylist()
            except Exception as error:  # noqa: BLE001 - every failed read is a finding
                self.errors.append(f"{type(error).__name__}: {error}")
                continue
            keys = list(zip(frames.column("video_id").to_pylist(), frames.column("frame_index").to_pylist()))
            if len(keys) != len(set(keys)) or len(videos) != len(set(videos)):
                self.errors.append(f"duplicates: {Counter(keys).most_common(2)} {Counter(videos).most_common(2)}")
            if self.counts and len(keys) < self.counts[-1]:
                self.errors.append(f"frames went from {self.counts[-1]} to {len(keys)}")
            self.counts.append(len(keys))
            self.reads += 1


def test_ingest_through_transient_faults_ends_exactly_like_a_clean_run(s3, proxy, trees, clean_ingest):
    from schemas import RUNS, VIDEOS

    proxy.set(share=SHARE, seed=SEED)
    reader = Reader(s3, "ingest-faulty", proxy.url)
    reader.start()
    try:
        runs = [_ingest(s3, proxy.url, trees, "ingest-faulty")]
        if runs[0].returncode != 0:  # a transient error no client retries: the rerun must finish the work
            runs.append(_ingest(s3, proxy.url, trees, "ingest-faulty"))
        _ok(runs[-1])
    finally:
        reader.stop.set()
        reader.join(timeout=60)
    report = proxy.report()
    TIMES["ingest through faults"] = sum(run.seconds for run in runs)

    injected = report["injected"]
    assert report["faults"] > 20 and set(report["by_kind"]) == {"slowdown", "internal", "drop"}, report["by_kind"]
    assert any(re.search(COMMIT_PUT, f"{f['method']} {f['path']}") for f in injected), "no commit was faulted"
    assert any(f["method"] == "GET" for f in injected) and any(f["method"] == "PUT" for f in injected)
    assert reader.errors == [] and reader.reads >= 3, (reader.reads, reader.errors[:3])

    faulty = _lake(s3, "ingest-faulty")
    assert _checksums(faulty, VIDEO_KEYS) == clean_ingest
    assert faulty.read(VIDEOS).num_rows == 13
    assert faulty.read(RUNS).column("status").to_pylist().count("succeeded") == 1
    print(
        f"\ningest: {len(runs)} run(s) through {report['faults']} faults of {report['requests']} requests "
        f"({report['by_kind']}); reader: {reader.reads} reads; times {TIMES}"
    )


def test_a_reset_commit_fails_the_run_and_the_rerun_ends_like_a_clean_run(s3, proxy, trees, clean_ingest):
    """A connection reset before any answer to a commit is not retried (the store may have done it): exit 1."""
    from schemas import FRAMES, RUNS

    # one reset, on the first `frames` commit after the first batch: the run fails half-way
    proxy.set(share=1.0, faults=["reset"], match=r"^PUT /[^?]*/ingest-reset/frames/_delta_log/0+[2-9]\.json$", budget=1)
    failed = _ingest(s3, proxy.url, trees, "ingest-reset")
    assert proxy.report()["faults"] == 1
    # one `facelake ingest: error:` line on the terminal; the traceback, with the cause, in the log it names
    assert failed.returncode == 1 and "facelake ingest: error: " in failed.stderr, failed.stderr[-3000:]
    log_file = Path(re.search(r"\(details in (\S+)\)", failed.stderr).group(1))
    assert "Connection reset by peer" in failed.stderr + log_file.read_text(), failed.stderr[-3000:]
    assert SECRET not in failed.stdout + failed.stderr + log_file.read_text()
    lake = _lake(s3, "ingest-reset")
    halfway = lake.read(FRAMES, columns=["video_id", "frame_index"])
    assert 0 < halfway.num_rows < 13 * 3  # some batches landed, not all
    assert lake.read(RUNS).column("status").to_pylist() == ["failed"]

    rerun = _ok(_ingest(s3, proxy.url, trees, "ingest-reset"))
    TIMES["ingest reset + rerun"] = failed.seconds + rerun.seconds
    assert _checksums(lake, VIDEO_KEYS) == clean_ingest
    assert sorted(lake.read(RUNS).column("status").to_pylist()) == ["failed", "succeeded"]


def test_register_through_transient_faults_ends_exactly_like_a_clean_run(s3, proxy, registry_tree):
    from schemas import PHOTOS

    keys = {"photos": ["photo_id"]}
    clean = _ok(_job(s3, None, "register", "--source", str(registry_tree.root), "--lake", _uri("photos-clean")))
    TIMES["register clean"] = clean.seconds
    proxy.set(share=SHARE, seed=SEED + 1)
    args = ("register", "--source", str(registry_tree.root), "--lake", _uri("photos-faulty"))
    runs = [_job(s3, proxy.url, *args)]
    if runs[0].returncode != 0:
        runs.append(_job(s3, proxy.url, *args))
    _ok(runs[-1])
    report = proxy.report()
    TIMES["register through faults"] = sum(run.seconds for run in runs)
    assert report["faults"] > 5, report["by_kind"]
    faulty = _lake(s3, "photos-faulty")
    assert _checksums(faulty, keys) == _checksums(_lake(s3, "photos-clean"), keys)
    assert faulty.read(PHOTOS).num_rows == len(registry_tree.manifest.photos)
    print(
        f"\nregister: {len(runs)} run(s) through {report['faults']} faults of {report['requests']} requests; "
        f"times {TIMES}"
    )


@pytest.mark.parametrize("code", ["AccessDenied", "SignatureDoesNotMatch"])
def test_a_permanent_error_is_not_retried_and_the_job_fails_fast(s3, proxy, trees, code):
    proxy.set(deny=code)
    result = _job(
        s3, proxy.url, "ingest", "--source", str(trees / "siw"), "--lake", _uri("denied"), *INGEST, timeout=120
    )
    report = proxy.report()
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]  # denied access is the user's to fix: a usage exit
    assert result.seconds < 30, result.seconds  # Python and imports included; no backoff at all
    assert "object storage refused list request: 403 Forbidden (" in output and code in output, output[-3000:]
    assert result.stderr.count("\n") == 1 and "<Code>" not in result.stderr, result.stderr  # one line, no XML
    assert report["max_attempts_of_one_request"] == 1 and report["requests"] <= 3, report
    assert SECRET not in output


def _retry_lake(s3, proxy, tmp_path, **retry):
    """A lake of its own reached through the proxy: the `s3` fixture's credentials, `retry` options in the file."""
    from etl.lake.lake import Lake

    with open(s3["env"]["FACELAKE_STORAGE_OPTIONS"], encoding="utf-8") as handle:
        options = json.load(handle)
    file = tmp_path / "retry.json"
    file.write_text(json.dumps({**options, **retry}))
    environ = {**_env(s3, proxy.url), "FACELAKE_STORAGE_OPTIONS": str(file)}
    return Lake.open(_uri(tmp_path.name), environ=environ, create=True)


def test_retries_stop_after_max_retries_on_delta_rs_and_pyarrow(s3, proxy, tmp_path):
    from etl.lake.storage import arrow_s3_filesystem
    from schemas import VIDEOS

    lake = _retry_lake(
        s3,
        proxy,
        tmp_path,
        max_retries=2,
        **{"backoff_config.init_backoff": "10ms", "backoff_config.max_backoff": "20ms"},
    )
    proxy.set(share=1.0, faults=["slowdown"], max_consecutive=0)  # every attempt of every request fails
    started = time.perf_counter()
    with pytest.raises(OSError, match="503") as caught:
        lake.exists(VIDEOS)
    report = proxy.report()
    assert report["max_attempts_of_one_request"] == 3 and report["requests"] == 3, report  # 1 + max_retries
    assert time.perf_counter() - started < 10
    assert SECRET not in str(caught.value)

    proxy.set(share=1.0, faults=["slowdown"], max_consecutive=0)
    with pytest.raises(OSError, match="SlowDown|503"):
        arrow_s3_filesystem(lake.storage_options).get_file_info(
            f"{BUCKET}/{PREFIX}/{tmp_path.name}/videos/_delta_log/0.json"
        )
    assert proxy.report()["max_attempts_of_one_request"] == 3


def test_retries_stop_at_retry_timeout(s3, proxy, tmp_path):
    from schemas import VIDEOS

    lake = _retry_lake(
        s3,
        proxy,
        tmp_path,
        max_retries=1000,
        retry_timeout="1s",
        **{"backoff_config.init_backoff": "200ms", "backoff_config.max_backoff": "200ms"},
    )
    proxy.set(share=1.0, faults=["internal"], max_consecutive=0)
    started = time.perf_counter()
    with pytest.raises(OSError, match="500"):
        lake.exists(VIDEOS)
    elapsed, attempts = time.perf_counter() - started, proxy.report()["max_attempts_of_one_request"]
    assert 3 <= attempts <= 10 and elapsed < 5, (attempts, elapsed)


def _frames(videos: int = 3, frames: int = 2):
    """A few `frames` rows, keys only: video ids Train/live/001/k<i>, frame indexes 0..frames-1."""
    import pyarrow as pa

    from schemas import FRAMES

    rows = [
        {name: None for name in FRAMES.schema.names}
        | {
            "video_id": f"Train/live/001/k{i}",
            "frame_index": j,
            "split": "train",
            "label": "live",
            "det_status": "ok",
            "run_id": "r",
        }
        for i in range(videos)
        for j in range(frames)
    ]
    return pa.Table.from_pylist(rows, schema=FRAMES.schema)


def _frame_keys(lake) -> list[tuple[str, int]]:
    from schemas import FRAMES

    frames = lake.read(FRAMES, columns=["video_id", "frame_index"])
    return sorted(zip(frames.column("video_id").to_pylist(), frames.column("frame_index").to_pylist()))


def test_every_first_attempt_failing_is_survived_by_delta_rs(s3, proxy, tmp_path):
    """Each distinct request fails once (503, 500 or a dropped connection) and then goes through."""
    from schemas import FRAMES

    lake = _retry_lake(s3, proxy, tmp_path)
    proxy.set(share=1.0, seed=1)
    lake.append(FRAMES, _frames())
    lake.replace_where(FRAMES, _frames(1, 1), predicate="video_id = 'Train/live/001/k0'")
    report = proxy.report()
    assert report["faults"] > 10 and len(report["by_kind"]) == 3, report["by_kind"]
    proxy.set()
    assert _frame_keys(lake) == sorted(
        [("Train/live/001/k0", 0)] + [(f"Train/live/001/k{i}", j) for i in (1, 2) for j in range(2)]
    )


@pytest.mark.parametrize("commit", ["create", "append", "replace_where", "delete"])
def test_a_commit_whose_answer_is_lost_is_neither_lost_nor_doubled(s3, proxy, tmp_path, commit):
    """The store writes `_delta_log/N.json` and the answer never arrives: object_store sends it again, meets its
    own commit (412), and delta-rs commits again at N+1 or finds nothing to do. The snapshot holds each file once."""
    from deltalake import DeltaTable

    from schemas import FRAMES

    lake = _retry_lake(s3, proxy, tmp_path)
    if commit != "create":
        lake.append(FRAMES, _frames())
    version = lake.version(FRAMES) if commit != "create" else -1
    proxy.set(share=1.0, faults=["lost"], match=rf"/frames/_delta_log/{version + 1:020d}\.json$", budget=1)
    if commit == "create":
        lake.ensure(FRAMES)
    elif commit == "append":
        lake.append(FRAMES, _frames(1, 1))
    elif commit == "replace_where":
        lake.replace_where(FRAMES, _frames(1, 1), predicate="video_id = 'Train/live/001/k0'")
    else:
        lake.replace_where(FRAMES, _frames(0, 0), predicate="video_id = 'Train/live/001/k0'")
    assert proxy.report()["faults"] == 1
    proxy.set()
    before = [(f"Train/live/001/k{i}", j) for i in range(3) for j in range(2)] if commit != "create" else []
    expected = {
        "create": [],
        "append": before + [("Train/live/001/k0", 0)],
        "replace_where": [("Train/live/001/k0", 0)] + before[2:],
        "delete": before[2:],
    }[commit]
    assert _frame_keys(lake) == sorted(expected)
    files = DeltaTable(lake.uri(FRAMES), storage_options=lake.storage_options).file_uris()
    assert len(files) == len(set(files))


def test_a_5xx_on_a_short_range_read_is_retried_by_read_and_by_queries(s3, proxy, tmp_path):
    """pyarrow's S3FileSystem reads a range into a buffer of its exact size: a 5xx whose XML body is longer
    fails with 'Failed to flush response stream' and pyarrow does not retry it; `Lake.read` and
    `run_query` do (etl.lake.storage.with_read_retries), boundedly, for transient errors only."""
    from etl.lake.query import run_query
    from schemas import FRAMES

    lake = _retry_lake(s3, proxy, tmp_path)
    lake.append(FRAMES, _frames())
    proxy.set(share=1.0, faults=["slowdown"], match=r"^GET [^?]*\.parquet$", times=1)  # each data read fails once
    assert lake.read(FRAMES, columns=["video_id", "frame_index"]).num_rows == 6
    assert run_query(lake, "SELECT count(*) AS n FROM frames").to_pylist() == [{"n": 6}]
    assert any(f["kind"] == "slowdown" for f in proxy.report()["injected"])

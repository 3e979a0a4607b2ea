"""The lake on S3: sample -> ingest -> audit -> register -> embed -> dedup against a local
S3-compatible server (moto, on 127.0.0.1, see `tests/s3_server.py`), every job through
its CLI in a subprocess, with the storage options in the environment and in a
`FACELAKE_STORAGE_OPTIONS` JSON file.

Concurrent writers. Every Delta commit on S3 is `PUT _delta_log/N.json` with
`If-None-Match: *` (`aws_conditional_put=etag`, set by `etl.lake.storage`): of two writers of
version N the store accepts one; delta-rs then checks the loser's transaction against
what won. A plain append does not conflict and is retried by delta-rs itself. A
predicate overwrite (`Lake.replace_where`, how ingest commits a batch of videos) that
read rows the winner rewrote fails with `CommitFailedError`; `Lake` then reruns it on the
new version. That is safe because a replace_where is idempotent: it replaces every
row of those videos with a complete set, whoever wrote them before. So:
- two ingests of different trees at once both land completely (their predicates touch
  disjoint videos; a conflict, if delta-rs reports one, is retried);
- two ingests of the same tree at once both process every video (each planned before
  the other committed) and the last commit per video wins: one `videos` row and one
  set of frames per video, never two. No lease is needed for correctness; a lease
  would only save the duplicated work.

The S3 server is the session's (conftest `s3`); this module keeps to `s3://BUCKET/s3-lake/`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import BUCKET, REPO, SECRET, s3_job_env

PHOTOS_SEED = "7"
FAST = ("--frame-stride", "10", "--workers", "1", "--commit-every", "2")
PREFIX = "s3-lake"  # this module's objects on the session's S3 server


def _uri(name: str) -> str:
    return f"s3://{BUCKET}/{PREFIX}/{name}"


def _start(s3, module: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", f"jobs.{module}", *args],
        cwd=REPO,
        env=s3_job_env(s3),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(s3, process: subprocess.Popen, *, timeout: float = 300) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=timeout)
    s3["logs"].append(stdout + stderr)
    if process.returncode != 0:
        raise AssertionError(f"{' '.join(process.args[2:4])} exited {process.returncode}:\n{stderr[-4000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _job(s3, module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return _finish(s3, _start(s3, module, *args), timeout=timeout)


def _lake(s3, name: str):
    from etl.lake.lake import Lake

    return Lake.open(_uri(name), environ=s3["env"], create=True)


@pytest.fixture(scope="module")
def trees(s3, sample, tmp_path_factory):
    """The session's SiW sample tree (13 videos) and a photo registry written locally by `facelake sample --photos`."""
    base = tmp_path_factory.mktemp("s3-sample")
    _job(s3, "sample", "--photos", str(base / "photos"), "--seed", PHOTOS_SEED)
    return {"siw": sample.root, "manifest": sample.manifest, "photos": base / "photos"}


@pytest.fixture(scope="module")
def pipeline(s3, trees):
    """ingest -> audit -> register -> embed -> dedup into s3://BUCKET/s3-lake/lake; the timings per job."""
    lake, times = _uri("lake"), {}

    def timed(name, module, *args):
        started = time.perf_counter()
        result = _job(s3, module, *args)
        times[name] = time.perf_counter() - started
        return result

    timed("ingest", "ingest", "--source", str(trees["siw"]), "--lake", lake, "--no-progress", "--frame-stride", "5")
    audit = timed("audit", "audit", "--lake", lake, "--only", "video_status", "job_runs", "--format", "json")
    timed("register", "register", "--source", str(trees["photos"]), "--lake", lake)
    timed("embed", "embed", "--lake", lake, "--source", "photos")
    dedup = timed("dedup", "dedup", "--lake", lake, "--source", "photos")
    return {"lake": lake, "audit": audit.stdout, "dedup": dedup.stderr, "times": times}


def _check_frames(lake, *, videos: int, stride: int) -> None:
    """One `videos` row per video; per video, exactly its decoded frames at `stride`, each once."""
    from schemas import VIDEOS

    rows = lake.read(VIDEOS).to_pylist()
    ids = [r["video_id"] for r in rows]
    assert len(ids) == len(set(ids)) == videos, Counter(ids).most_common(3)
    keys = _frame_keys(lake)
    assert len(keys) == len(set(keys)), Counter(keys).most_common(3)
    per_video = Counter(video_id for video_id, _ in keys)
    for row in rows:
        assert (row["n_frames"] or 0) == per_video[row["video_id"]], row["video_id"]
        if row["source_frames"] is not None:
            assert row["n_frames"] == -(-row["source_frames"] // stride), row["video_id"]
    assert set(per_video) <= set(ids)


def test_ingest_to_s3_writes_every_video_and_frame(s3, trees, pipeline):
    manifest = trees["manifest"]
    lake = _lake(s3, "lake")
    _check_frames(lake, videos=len(manifest.videos), stride=5)
    assert len(manifest.videos) == 13 and len(_frame_keys(lake)) == 72  # one truncated video decodes 18 of 30 frames
    for tree in (trees["siw"], trees["photos"]):  # no catalog file for an object-store lake
        assert not list(tree.glob("**/catalog.duckdb"))


def _audit_rows(text: str, name: str) -> list[dict]:
    import json

    return json.loads(text)[name]["rows"]


def test_audit_on_s3_answers_exactly(s3, pipeline):
    from schemas import VIDEOS

    statuses = {row["status"]: int(row["videos"]) for row in _audit_rows(pipeline["audit"], "video_status")}
    assert sum(statuses.values()) == 13
    assert statuses == dict(Counter(_lake(s3, "lake").read(VIDEOS).column("status").to_pylist()))
    runs = _audit_rows(pipeline["audit"], "job_runs")
    assert [(r["job"], r["status"], r["frames"]) for r in runs] == [("ingest", "succeeded", 72)], runs


def test_embed_and_dedup_on_s3_merge_the_person_registered_twice(s3, trees, pipeline):
    from etl.lake.query import load_query, run_query
    from schemas import EMBEDDINGS, IDENTITY_MERGES

    lake = _lake(s3, "lake")
    assert lake.read(EMBEDDINGS).num_rows > 0
    merges = lake.read(IDENTITY_MERGES)
    assert sorted(merges.column("identity").to_pylist()) == ["user_03", "user_09"]
    assert set(merges.column("canonical_id").to_pylist()) == {"user_03"}
    assert "First: user_03, Second: user_09" in pipeline["dedup"]
    pairs = run_query(lake, load_query("identity_pairs"))  # DuckDB over the S3 lake
    assert pairs.num_rows >= 1


def test_no_secret_in_tables_objects_or_logs(s3, pipeline):
    from schemas import RUNS

    runs = _lake(s3, "lake").read(RUNS)
    assert sorted(runs.column("job").to_pylist()) == ["dedup", "embed", "ingest", "register"]  # audit records nothing
    assert set(runs.column("status").to_pylist()) == {"succeeded"}
    for row in runs.to_pylist():
        assert SECRET not in json.dumps(row, default=str)
    client = s3["client"]
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/lake/")
    assert listed["KeyCount"] > 0 and not listed.get("IsTruncated")
    for item in listed["Contents"]:  # every data file and every commit of every table
        assert SECRET.encode() not in client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read(), item["Key"]
    assert s3["logs"] and all(SECRET not in log for log in s3["logs"])
    assert SECRET not in repr(_lake(s3, "lake"))


def _split_tree(source: Path, target: Path, keep: str) -> Path:
    """A copy of the sample tree holding only its `keep` split (Train or Test)."""
    import shutil

    shutil.copytree(source / keep, target / keep)
    return target


def _frame_keys(lake):
    from schemas import FRAMES

    frames = lake.read(FRAMES, columns=["video_id", "frame_index"])
    return list(zip(frames.column("video_id").to_pylist(), frames.column("frame_index").to_pylist()))


def test_two_ingests_of_different_trees_at_once_both_land(s3, trees, tmp_path):
    from schemas import RUNS, VIDEOS

    train = _split_tree(trees["siw"], tmp_path / "a", "Train")
    test = _split_tree(trees["siw"], tmp_path / "b", "Test")
    lake_uri = _uri("concurrent-different")
    running = [
        _start(s3, "ingest", "--source", str(tree), "--lake", lake_uri, "--no-progress", *FAST)
        for tree in (train, test)
    ]
    for process in running:
        _finish(s3, process)
    lake = _lake(s3, "concurrent-different")
    assert sorted(lake.read(VIDEOS).column("video_id").to_pylist()) == sorted({*_ids(train), *_ids(test)})
    _check_frames(lake, videos=13, stride=10)
    assert sorted(lake.read(RUNS).column("status").to_pylist()) == ["succeeded", "succeeded"]


def _ids(tree: Path) -> set[str]:
    from etl.sources.siw_tree import scan_source

    return {v.video_id for v in scan_source(str(tree)).videos}


def test_two_ingests_of_one_tree_at_once_leave_no_duplicate(s3, trees):
    from schemas import RUNS

    lake_uri = _uri("concurrent-same")
    running = [
        _start(s3, "ingest", "--source", str(trees["siw"]), "--lake", lake_uri, "--no-progress", *FAST)
        for _ in range(2)
    ]
    for process in running:
        _finish(s3, process)
    lake = _lake(s3, "concurrent-same")
    _check_frames(lake, videos=13, stride=10)
    assert sorted(lake.read(RUNS).column("status").to_pylist()) == ["succeeded", "succeeded"]


def _replace_rounds(args) -> int:
    """In a spawned process: `rounds` replace_where commits of keys k0..k3 (3 rows each),
    each round started together with the other writer; returns how many commits were retried."""
    import logging

    import pyarrow as pa

    from etl.lake.lake import Lake
    from etl.lake.rows import in_predicate
    from schemas import FRAMES

    root, environ, barrier, tag, rounds = args
    retried = []

    class Count(logging.Handler):
        def emit(self, record):
            if "concurrent commit won" in record.getMessage():
                retried.append(record)

    logging.getLogger("facelake.etl.lake.lake").addHandler(Count())
    logging.getLogger("facelake.etl.lake.lake").setLevel(logging.INFO)
    lake = Lake.open(root, environ=environ)
    keys = [f"Train/live/001/k{i}" for i in range(4)]
    rows = [
        {name: None for name in FRAMES.schema.names}
        | {"video_id": key, "frame_index": i, "split": "train", "label": "live", "det_status": "ok", "run_id": tag}
        for key in keys
        for i in range(3)
    ]
    table = pa.Table.from_pylist(rows, schema=FRAMES.schema)
    for _ in range(rounds):
        barrier.wait(timeout=120)
        lake.replace_where(FRAMES, table, predicate=in_predicate("video_id", keys))
    return len(retried)


@pytest.mark.parametrize("where", ["s3", "local"])
def test_concurrent_replace_where_of_the_same_keys_is_retried_and_never_duplicates(s3, tmp_path, where):
    """The commit race itself, without Ray: two writers replace the same rows at the same instant, six times."""
    import multiprocessing

    from etl.lake.lake import Lake
    from schemas import FRAMES

    root = _uri(f"race-{tmp_path.name}") if where == "s3" else str(tmp_path / "lake")
    Lake.open(root, environ=s3["env"], create=True).ensure(FRAMES)
    context = multiprocessing.get_context("spawn")  # delta-rs's runtime does not survive a fork
    with context.Manager() as manager, context.Pool(2) as pool:
        barrier = manager.Barrier(2)
        retried = pool.map(_replace_rounds, [(root, s3["env"], barrier, tag, 6) for tag in ("a", "b")])
    keys = _frame_keys(Lake.open(root, environ=s3["env"]))
    assert sorted(keys) == sorted((f"Train/live/001/k{k}", i) for k in range(4) for i in range(3))
    assert sum(retried) >= 1  # the race happened and the loser's commit was redone, not lost or doubled


def test_train_and_maintain_on_s3(s3, tmp_path):
    """`train` reads frames from the S3 lake at a pinned version; `maintain` compacts it and keeps that version."""
    from etl.synthetic.siw_tree import write_sample_tree
    from schemas import FRAMES, RUNS, TRAIN_RUNS

    write_sample_tree(tmp_path / "siw", subjects=4, seconds=0.5, seed=3)  # P1 needs 2 training subjects
    uri = _uri("train-lake")
    _job(s3, "ingest", "--source", str(tmp_path / "siw"), "--lake", uri, "--no-progress", "--commit-every", "2")
    _job(
        s3,
        "train",
        "--lake",
        uri,
        "--out",
        str(tmp_path / "models"),
        "--epochs",
        "1",
        "--batch-size",
        "32",
        timeout=600,
    )
    lake = _lake(s3, "train-lake")
    (trained,) = lake.read(TRAIN_RUNS).to_pylist()
    assert trained["frames_version"] == lake.version(FRAMES)
    assert (tmp_path / "models" / "P1" / "model.tflite").is_file()
    files_before = len(lake.file_uris(FRAMES))
    rows_before = lake.read(FRAMES, columns=["video_id", "frame_index"]).num_rows

    _job(s3, "maintain", "--lake", uri)
    assert len(lake.file_uris(FRAMES)) < files_before
    pinned = lake.read(FRAMES, columns=["video_id", "frame_index"], version=trained["frames_version"])
    assert pinned.num_rows == rows_before == lake.read(FRAMES, columns=["video_id", "frame_index"]).num_rows
    runs = lake.read(RUNS)
    assert sorted(runs.column("job").to_pylist()) == ["ingest", "maintain", "train"]
    assert set(runs.column("status").to_pylist()) == {"succeeded"}

"""Sources on object storage: `ingest --source s3://...` and `register --source s3://...`.

The session's S3 server (conftest `s3`, moto on 127.0.0.1) holds copies of the session's SiW
sample tree and photo registry under `s3://BUCKET/s3-sources/`; this module keeps to that
prefix. The scans list and read them through `etl.sources.files` (pyarrow's S3FileSystem
with the lakes' storage options) and must find exactly what they find in the local trees:
the same rows, fingerprints included, apart from the source root. Videos are fingerprinted
with ranged reads (their edges), never downloaded whole by the scan; a task copies its own
video to the temporary folder and removes the copy. Nothing in the source bucket changes.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from checksum import RUN_COLUMNS, table_checksum
from conftest import BUCKET, REPO, SECRET, s3_job_env

PREFIX = "s3-sources"  # this module's objects on the session's S3 server
FAST = ("--no-progress", "--frame-stride", "5", "--workers", "2")
# the columns that name where a row's source lives: all that may differ between a local and an S3 source
SOURCE_COLUMNS = ("source_root",)
KEYS = {"videos": ["video_id"], "frames": ["video_id", "frame_index"], "photos": ["photo_id"]}


def _uri(*parts: str) -> str:
    return "/".join([f"s3://{BUCKET}/{PREFIX}", *parts])


def upload(client, root: Path, prefix: str) -> None:
    """Every file under `root` to `s3://BUCKET/PREFIX/prefix/<relative path>`; `.face` files before videos."""
    files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: (p.suffix.lower() == ".mov", str(p)))
    for path in files:
        client.upload_file(str(path), BUCKET, f"{PREFIX}/{prefix}/{path.relative_to(root).as_posix()}")


def objects(client, prefix: str = "") -> dict[str, tuple[str, int]]:
    """key -> (etag, size) of every object under `s3://BUCKET/PREFIX/prefix`."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/{prefix}"):
        for item in page.get("Contents", []):
            out[item["Key"]] = (item["ETag"], item["Size"])
    return out


@pytest.fixture(scope="module")
def s3_env(s3):
    """The S3 server's settings in this process's environment, as a job has them (restored afterwards)."""
    saved = {name: os.environ.get(name) for name in (*s3["env"], "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.pop(name, None)
    os.environ.update(s3["env"])
    yield s3["env"]
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def trees(s3, s3_env, sample, registry_tree):
    """The sample SiW tree and the photo registry, local and on S3; the objects as uploaded."""
    upload(s3["client"], sample.root, "trees/siw")
    upload(s3["client"], registry_tree.root, "trees/photos")
    return {
        "siw": sample.root,
        "photos": registry_tree.root,
        "siw_uri": _uri("trees", "siw"),
        "photos_uri": _uri("trees", "photos"),
        "objects": objects(s3["client"], "trees/"),
    }


def _rows(items, drop=("source_root",)) -> list[dict]:
    return [{k: v for k, v in asdict(item).items() if k not in drop} for item in items]


# ---------------------------------------------------------------- scans (no Ray)


def test_the_scan_of_an_s3_tree_equals_the_scan_of_its_local_copy(trees):
    from etl.sources.photo_tree import scan_photo_tree
    from etl.sources.siw_tree import scan_source

    local, remote = scan_source(trees["siw"]), scan_source(trees["siw_uri"] + "/")  # a trailing / is the same root
    assert remote.source_root == trees["siw_uri"]
    assert len(remote.videos) == 13 and all(v.source_root == trees["siw_uri"] for v in remote.videos)
    assert _rows(remote.videos) == _rows(local.videos)  # names, sizes, fingerprints, .face repairs, statuses
    assert (remote.orphan_face_files, remote.ignored_files) == (local.orphan_face_files, local.ignored_files)
    assert [v.fingerprint for v in remote.videos] == [v.fingerprint for v in local.videos]

    local_photos, remote_photos = scan_photo_tree(trees["photos"]), scan_photo_tree(trees["photos_uri"])
    assert remote_photos.source_root == trees["photos_uri"]
    assert len(remote_photos.photos) == len(local_photos.photos) > 0
    assert _rows(remote_photos.photos) == _rows(local_photos.photos)
    assert remote_photos.ignored == local_photos.ignored


def test_an_object_and_its_local_copy_have_one_fingerprint(trees):
    from etl.sources.siw_tree import fingerprint_file

    for rel in ("Train/live/001/001-1-1-1-1.mov", "Train/live/001/001-1-1-1-1.face"):
        assert fingerprint_file(f"{trees['siw_uri']}/{rel}") == fingerprint_file(trees["siw"] / rel)
        assert fingerprint_file(f"{trees['siw_uri']}/{rel}", extra=b"x") == fingerprint_file(
            trees["siw"] / rel, extra=b"x"
        )


def test_scanned_sources_are_small_picklable_and_hold_no_secret(trees):
    from etl.sources.photo_tree import scan_photo_tree
    from etl.sources.siw_tree import scan_source

    for item in (scan_source(trees["siw_uri"]).videos[0], scan_photo_tree(trees["photos_uri"]).photos[0]):
        data = pickle.dumps(item)
        assert len(data) < 20_000 and SECRET.encode() not in data and b"S3FileSystem" not in data
        assert pickle.loads(data) == item
        with pytest.raises(ValueError, match="is on object storage"):
            item.abs_path  # noqa: B018 - no local path to give


class Recording:
    """A pyarrow file system that records every read of a file: (path, how it was opened, bytes read)."""

    def __init__(self, inner) -> None:
        self.inner, self.reads = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def open_input_file(self, path):
        return _RecordedFile(self, path, "file", self.inner.open_input_file(path))

    def open_input_stream(self, path):
        return _RecordedFile(self, path, "stream", self.inner.open_input_stream(path))


class _RecordedFile:
    def __init__(self, owner: Recording, path: str, how: str, inner) -> None:
        self.owner, self.path, self.how, self.inner = owner, path, how, inner

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.inner.close()

    def size(self):
        return self.inner.size()

    def read(self, nbytes=None):
        data = self.inner.read() if nbytes is None else self.inner.read(nbytes)
        self.owner.reads.append((self.path, self.how, len(data)))
        return data

    def read_at(self, nbytes, offset):
        data = self.inner.read_at(nbytes, offset)
        self.owner.reads.append((self.path, self.how, len(data)))
        return data


@pytest.fixture
def recorded(monkeypatch):
    """Every S3 file system `etl.sources.files` makes from now on records its reads."""
    import etl.sources.files

    made: list[Recording] = []
    real = etl.sources.files.arrow_s3_filesystem

    def recording(options):
        made.append(Recording(real(options)))
        return made[-1]

    monkeypatch.setattr(etl.sources.files, "arrow_s3_filesystem", recording)
    etl.sources.files._s3_filesystem.cache_clear()  # one made from now on, not one made before
    yield made
    etl.sources.files._s3_filesystem.cache_clear()


def _big_videos(root: Path) -> dict[str, bytes]:
    """A SiW tree of 1 MiB 'videos' (the scan does not decode): 002 differs from 001 at its edges, 003 is a byte
    copy of 001 under another name, 004 has 001's size and edges but not its middle."""
    from etl.sources.siw_tree import FINGERPRINT_EDGE_BYTES

    edge, middle = os.urandom(FINGERPRINT_EDGE_BYTES), os.urandom(1024 * 1024)
    files = {
        "Train/live/001/001-1-1-1-1.mov": edge + middle + edge,
        "Train/live/002/002-1-1-1-1.mov": os.urandom(len(edge)) + middle + edge,
        "Train/live/003/003-1-1-1-1.mov": edge + middle + edge,
        "Train/live/004/004-1-1-1-1.mov": edge + middle[:-1] + bytes([middle[-1] ^ 1]) + edge,
        "Train/live/001/001-1-1-1-1.face": b"100 100 200 200\n",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_videos_are_fingerprinted_by_their_edges_and_copies_found_without_a_download(s3, s3_env, tmp_path, recorded):
    from etl.sources.siw_tree import FINGERPRINT_EDGE_BYTES, scan_source

    files = _big_videos(tmp_path / "siw")
    upload(s3["client"], tmp_path / "siw", "big")
    local, remote = scan_source(tmp_path / "siw"), scan_source(_uri("big"))
    assert _rows(remote.videos) == _rows(local.videos)
    statuses = {v.rel_path.split("/")[2]: v.status for v in remote.videos}
    assert statuses == {"001": None, "002": None, "003": "duplicate_content", "004": None}
    (filesystem,) = recorded
    read: dict[str, int] = {}
    for path, how, size in filesystem.reads:
        rel = path.removeprefix(f"{BUCKET}/{PREFIX}/big/")
        read[rel] = read.get(rel, 0) + size
        assert how == "file" or rel.endswith(".face"), f"{rel} was read as a stream, whole"
    size, edges = len(files["Train/live/002/002-1-1-1-1.mov"]), 2 * FINGERPRINT_EDGE_BYTES
    assert read["Train/live/002/002-1-1-1-1.mov"] == edges < size  # a video like no other: its edges only
    # the copy check reads whole only the videos whose size and edges match an earlier one's, and that one
    assert read["Train/live/003/003-1-1-1-1.mov"] == read["Train/live/004/004-1-1-1-1.mov"] == edges + size
    assert read["Train/live/001/001-1-1-1-1.mov"] == edges + 2 * size
    assert read["Train/live/001/001-1-1-1-1.face"] == len(files["Train/live/001/001-1-1-1-1.face"])


def test_a_task_reads_a_remote_video_from_a_temporary_copy_it_removes(s3, s3_env, tmp_path, recorded, monkeypatch):
    import tempfile

    import etl.sources.files
    from etl.sources.files import source_folder

    files = _big_videos(tmp_path / "siw")
    upload(s3["client"], tmp_path / "siw", "copy")
    monkeypatch.setattr(etl.sources.files, "COPY_CHUNK_BYTES", 256 * 1024)
    rel = "Train/live/002/002-1-1-1-1.mov"
    with source_folder(_uri("copy")).local_copy(rel) as path:
        assert path.name == "002-1-1-1-1.mov"  # messages that name the file read as for a local source
        assert Path(tempfile.gettempdir()) in path.parents
        assert path.read_bytes() == files[rel]
    assert not path.exists() and not path.parent.exists()
    reads = [size for name, _, size in recorded[0].reads if name.endswith(rel)]
    assert max(reads) <= 256 * 1024 and sum(reads) == len(files[rel])  # streamed, never whole in memory
    with pytest.raises(RuntimeError), source_folder(_uri("copy")).local_copy(rel) as path:
        raise RuntimeError("processing failed")
    assert not path.parent.exists()
    photo_bytes = source_folder(_uri("copy")).read_bytes("Train/live/001/001-1-1-1-1.face")
    assert photo_bytes == files["Train/live/001/001-1-1-1-1.face"]


# ---------------------------------------------------------------- source checks (no Ray)

SIW_EXPECTED = (
    "is not a SiW tree: expected Train/ and/or Test/ folders holding live/ and spoof/ with "
    "SSS/SSS-sensor-type-medium-session.mov videos (.m.mov and .mp4 too); "
)
PHOTOS_EXPECTED = (
    "is not a photo tree: expected one folder per user directly inside it, holding that user's .jpg/.jpeg/.png photos; "
)


def _refusal(check, source: str) -> str:
    from etl.sources.siw_tree import NotASourceError

    with pytest.raises(NotASourceError) as info:
        check(source)
    # the library names the setting (`source: ...`); the command line renders it as the flag
    assert str(info.value).startswith(f"source: {source} ")
    return info.value.line(flags=True)


def test_the_source_checks_accept_s3_trees_and_refuse_others_in_one_line(s3, trees):
    from etl.sources.photo_tree import check_photo_source
    from etl.sources.siw_tree import check_siw_source

    siw, photos, missing = trees["siw_uri"], trees["photos_uri"], _uri("no-such-prefix")
    before = objects(s3["client"])
    check_siw_source(siw)
    check_photo_source(photos)
    for check, what in ((check_siw_source, "a SiW tree"), (check_photo_source, "a photo tree")):
        assert _refusal(check, missing).startswith(
            f"--source {missing} is not a folder (nothing is there); pass the root of {what} ("
        )
        assert _refusal(check, f"s3://no-such-bucket-{PREFIX}/siw").startswith(
            f"--source s3://no-such-bucket-{PREFIX}/siw is not a folder (nothing is there)"
        )
    video = f"{siw}/Train/live/001/001-1-1-1-1.mov"
    assert _refusal(check_siw_source, video).startswith(f"--source {video} is not a folder (it is a file)")
    assert _refusal(check_siw_source, f"{siw}/Train") == (
        f"--source {siw}/Train {SIW_EXPECTED}it is part of the SiW tree {siw}: pass its parent, {siw}"
    )
    assert _refusal(check_siw_source, _uri("trees")) == (
        f"--source {_uri('trees')} {SIW_EXPECTED}the SiW tree seems to be {siw}: pass that folder"
    )
    assert _refusal(check_siw_source, photos).endswith(
        f"register it with `facelake register --source {photos} --lake LAKE`"
    )
    assert _refusal(check_photo_source, siw) == (
        f"--source {siw} {PHOTOS_EXPECTED}it is a SiW video tree: ingest it "
        f"with `facelake ingest --source {siw} --lake LAKE`"
    )
    assert _refusal(check_photo_source, f"{photos}/user_01").endswith(f"such as its parent {photos}")
    assert "\n" not in _refusal(check_siw_source, "nosuchscheme://x/y")
    assert objects(s3["client"]) == before  # a check creates nothing


def test_a_lake_in_an_s3_source_is_refused():
    from etl.sources.siw_tree import NotASourceError, check_lake_outside_source

    source = "s3://bucket/data/siw"
    for lake in (source, f"{source}/", f"{source}/lake", "s3a://bucket/data/siw/lake"):
        with pytest.raises(NotASourceError, match="put the lake outside the source tree"):
            check_lake_outside_source(lake, source)
    with pytest.raises(NotASourceError, match="^lake: s3://bucket/data/siw is inside source s3://bucket/data"):
        check_lake_outside_source(source, "s3://bucket/data")
    for lake in ("s3://bucket/data/siw-lake", "s3://other/data/siw/lake", "/data/siw/lake", "lake"):
        check_lake_outside_source(lake, source)
    check_lake_outside_source(source, "/data")


def test_an_empty_prefix_marked_as_a_folder_is_an_empty_source_folder(s3, trees):
    from etl.sources.files import is_empty_source_folder

    s3["client"].put_object(Bucket=BUCKET, Key=f"{PREFIX}/landing-empty/", Body=b"")
    assert is_empty_source_folder(_uri("landing-empty"))
    assert not is_empty_source_folder(_uri("no-such-prefix"))  # nothing there: not a folder at all
    assert not is_empty_source_folder(trees["siw_uri"])


# ---------------------------------------------------------------- the jobs (CLI, real Ray)


def _job(s3, module: str, *args: str, expect: int = 0, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", f"jobs.{module}", *args],
        cwd=REPO,
        env=s3_job_env(s3),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    s3["logs"].append(result.stdout + result.stderr)
    if result.returncode != expect:
        raise AssertionError(f"{module} exited {result.returncode}, expected {expect}:\n{result.stderr[-4000:]}")
    return result


def _error_line(result: subprocess.CompletedProcess, job: str) -> str:
    lines = [line for line in result.stderr.splitlines() if not line.startswith(f"facelake {job}: log: ")]
    assert len(lines) == 1 and lines[0].startswith(f"facelake {job}: error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize(("job", "what"), [("ingest", "a SiW tree"), ("register", "a photo tree")])
def test_a_missing_s3_prefix_exits_2_in_one_line_and_creates_nothing(s3, tmp_path, job, what):
    missing = _uri(f"missing-{job}")
    result = _job(s3, job, "--source", missing, "--lake", str(tmp_path / "lake"), expect=2, timeout=120)
    assert _error_line(result, job).startswith(
        f"facelake {job}: error: --source {missing} is not a folder (nothing is there); pass the root of {what} ("
    )
    assert not (tmp_path / "lake").exists()
    assert objects(s3["client"], f"missing-{job}") == {}


def test_an_s3_lake_inside_its_s3_source_is_refused(s3, trees):
    result = _job(
        s3, "ingest", "--source", trees["siw_uri"], "--lake", f"{trees['siw_uri']}/lake", expect=2, timeout=120
    )
    assert "put the lake outside the source tree" in _error_line(result, "ingest")
    assert objects(s3["client"], "trees/siw/lake") == {}


@pytest.fixture(scope="module")
def ingested(s3, trees, tmp_path_factory):
    """The sample ingested and the registry registered from S3 and from the local copy, each into a local lake of its
    own; then the sample ingested from S3 a second time."""
    base = tmp_path_factory.mktemp("s3-sources")
    for name, siw, photos in (
        ("remote", trees["siw_uri"], trees["photos_uri"]),
        ("local", trees["siw"], trees["photos"]),
    ):
        _job(s3, "ingest", "--source", str(siw), "--lake", str(base / name), *FAST)
        _job(s3, "register", "--source", str(photos), "--lake", str(base / name), "--workers", "2")
    again = _job(s3, "ingest", "--source", trees["siw_uri"], "--lake", str(base / "remote"), *FAST).stderr
    return {"remote": base / "remote", "local": base / "local", "again": again}


@pytest.mark.slow
def test_an_s3_source_gives_the_tables_its_local_copy_gives(ingested, trees):
    from etl.lake.lake import Lake
    from schemas import FRAMES, PHOTOS, VIDEOS

    remote, local = Lake(str(ingested["remote"])), Lake(str(ingested["local"]))
    for spec in (VIDEOS, FRAMES, PHOTOS):
        ours, theirs = remote.read(spec), local.read(spec)
        assert ours.num_rows == theirs.num_rows > 0, spec.name
        exclude = (*RUN_COLUMNS, *SOURCE_COLUMNS)
        assert table_checksum(ours, keys=KEYS[spec.name], exclude=exclude) == table_checksum(
            theirs, keys=KEYS[spec.name], exclude=exclude
        ), spec.name
        if "source_root" in ours.column_names:
            uri = trees["siw_uri"] if spec is VIDEOS else trees["photos_uri"]
            assert set(ours.column("source_root").to_pylist()) == {uri}
    statuses = set(remote.read(VIDEOS).column("status").to_pylist())
    assert {"ok", "corrupt"} <= statuses  # the truncated video is told apart through the temporary copy too


@pytest.mark.slow
def test_a_second_run_from_the_same_s3_source_processes_nothing(ingested, trees):
    from etl.lake.lake import Lake
    from schemas import RUNS

    assert "videos: 13 found, 0 processed, 13 unchanged, 0 gone from source" in ingested["again"]
    runs = Lake(str(ingested["remote"])).read(RUNS).to_pylist()
    assert sorted((r["job"], r["source"]) for r in runs) == sorted(
        [("ingest", trees["siw_uri"])] * 2 + [("register", trees["photos_uri"])]
    )
    assert {r["status"] for r in runs} == {"succeeded"}
    last = max((r for r in runs if r["job"] == "ingest"), key=lambda r: r["started_at"])
    assert json.loads(last["counts_json"])["videos_processed"] == 0


@pytest.mark.slow
def test_the_source_bucket_is_unchanged_and_no_copy_is_left_behind(s3, ingested, trees):
    import tempfile

    assert objects(s3["client"], "trees/") == trees["objects"]  # same keys, same ETags and sizes
    assert not list(Path(tempfile.gettempdir()).glob("facelake-source-*"))
    assert all(SECRET not in log for log in s3["logs"])


@pytest.mark.slow
def test_watch_waits_on_an_empty_s3_landing_prefix_and_ingests_what_arrives(s3, tmp_path):
    """Needs jobs/ingest.py's empty-folder check to accept a URI (`etl.sources.files.is_empty_source_folder`)."""
    from etl.synthetic.siw_tree import write_sample_tree

    write_sample_tree(tmp_path / "arrivals", subjects=2, seconds=0.5, seed=5)
    landing = _uri("landing")
    s3["client"].put_object(Bucket=BUCKET, Key=f"{PREFIX}/landing/", Body=b"")  # a landing folder, empty so far
    log_path = tmp_path / "watch.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobs.ingest",
                "--source",
                landing,
                "--lake",
                str(tmp_path / "lake"),
                *FAST,
                "--watch",
                "--interval",
                "2",
            ],
            cwd=REPO,
            env=s3_job_env(s3),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(log_path, "watch: nothing to ingest yet", process)
        upload(s3["client"], tmp_path / "arrivals", "landing")
        _wait_for(log_path, "13 found, 0 processed, 13 unchanged", process)  # a pass after everything arrived
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    from etl.lake.lake import Lake
    from schemas import VIDEOS

    ids = Lake(str(tmp_path / "lake")).read(VIDEOS).column("video_id").to_pylist()
    assert len(ids) == len(set(ids)) == 13


def _wait_for(log_path: Path, text: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log_path.read_text():
            return
        if process.poll() is not None:
            raise AssertionError(
                f"ingest --watch exited {process.returncode} before {text!r}:\n{log_path.read_text()[-4000:]}"
            )
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} within {timeout} s:\n{log_path.read_text()[-4000:]}")

"""`facelake forget` on a real lake: a SiW sample ingested, a photo registry registered, both
embedded and deduplicated, each job through its CLI with a real local Ray; then one subject
or one user forgotten through the forget CLI, and every table and every byte on disk checked.
The lake is the session's registry lake (conftest `registry`: the sample ingested, the
registry registered, embedded and deduplicated) copied, with the frames embedded and
deduplicated on top.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from checksum import table_checksum
from conftest import BUCKET, REPO, SECRET, run_job_cli, s3_job_env

from etl.erasure.redact import ERASED, Redactor
from etl.erasure.request import ForgetRequest
from etl.lake.lake import Lake
from etl.lake.runs import RunRecord
from jobs import forget
from schemas import (
    ALL_TABLES,
    EMBEDDINGS,
    ERASURES,
    FRAMES,
    IDENTITY_MERGES,
    IDENTITY_PAIRS,
    LABEL_CHECKS,
    PHOTOS,
    RUNS,
    SCORES,
    TRAIN_RUNS,
    VIDEOS,
)

SUBJECT, USER = 1, "user_03"  # user_03 is the canonical id of the registry's one duplicate person (user_09)
KEYS = {
    "videos": ["video_id"],
    "frames": ["video_id", "frame_index"],
    "photos": ["photo_id"],
    "embeddings": ["source", "face_key", "model"],
    "identity_pairs": ["source", "kind", "first", "second"],
    "identity_merges": ["source", "group_id", "identity"],
    "label_checks": ["source", "model", "face_key"],
    "train_runs": ["train_id"],
    "scores": ["train_id", "face_key"],
    "runs": ["run_id"],
}
DERIVED = (IDENTITY_PAIRS, IDENTITY_MERGES, LABEL_CHECKS)
S3_PREFIX = "forget"  # this module's objects on the session's S3 server


@dataclass
class Built:
    lake: Path
    siw: Path
    photos: Path


@pytest.fixture(scope="module")
def built(sample, registry, tmp_path_factory) -> Built:
    lake = tmp_path_factory.mktemp("forget") / "lake"
    shutil.copytree(registry.lake, lake)  # ingested, registered, photos embedded and deduplicated
    run_job_cli("embed", "--lake", str(lake), "--source", "frames", "--every-k", "5")
    run_job_cli("dedup", "--lake", str(lake), "--source", "frames")
    return Built(lake=lake, siw=sample.root, photos=registry.root)


@pytest.fixture
def lake(built, tmp_path) -> Lake:
    shutil.copytree(built.lake, tmp_path / "lake")
    return Lake(str(tmp_path / "lake"))


# ---------------------------------------------------------------- helpers


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass
class Person:
    """What names the person: exact values, and substrings (video ids and file stems, a photo id's folder)."""

    kind: str
    arg: str
    exact: set[str]
    parts: set[str]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.arg.encode()).hexdigest()  # the subject as plain decimal, the user as filed

    def named_in(self, row: dict) -> bool:
        if self.kind == "subject" and row.get("subject") == SUBJECT:
            return True
        for text in _strings(row):
            if text in self.exact or any(part in text for part in self.parts):
                return True
            if text.strip().startswith(("{", "[")):  # JSON columns: their strings too
                try:
                    if self.named_in({"json": json.loads(text)}):
                        return True
                except ValueError:
                    pass
        return False


def _person(lake: Lake, kind: str) -> Person:
    if kind == "subject":
        videos = lake.read(VIDEOS).filter(pc.equal(pc.field("subject"), SUBJECT))
        video_ids = set(videos.column("video_id").to_pylist())
        stems = {v.rsplit("/", 1)[-1] for v in video_ids}
        return Person(kind, "1", exact={"001", "frames:001"}, parts=video_ids | stems)
    photos = lake.read(PHOTOS).filter(pc.equal(pc.field("user"), USER))
    return Person(
        kind, USER, exact={USER, f"photos:{USER}"} | set(photos.column("photo_id").to_pylist()), parts={f"{USER}/"}
    )


def _rows(lake: Lake, spec, version: int | None = None) -> list[dict]:
    return lake.read(spec, version=version).to_pylist() if lake.exists(spec) else []


def _checksum(rows: list[dict], spec) -> str:
    return table_checksum(pa.Table.from_pylist(rows, schema=spec.schema), keys=KEYS[spec.name], exclude=())


def _lake_files(lake: Lake) -> dict[str, bytes]:
    return {str(p.relative_to(lake.root)): p.read_bytes() for p in sorted(Path(lake.root).rglob("*")) if p.is_file()}


def _cells(path: Path) -> set[bytes]:
    """Every value of a Parquet file decoded: binary as is, strings as UTF-8, float lists as float32 bytes."""
    out: set[bytes] = set()
    table = pq.read_table(path)
    for column in table.columns:
        kind = column.type
        values = column.to_pylist()
        if pa.types.is_list(kind) and pa.types.is_floating(kind.value_type):
            out |= {np.asarray(v, np.float32).tobytes() for v in values if v is not None}
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
            out |= {v for v in values if v is not None}
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            out |= {v.encode() for v in values if v is not None}
    return out


def _raw_hits(files: dict[str, bytes], needles: list[bytes]) -> int:
    return sum(1 for needle in needles if any(needle in data for data in files.values()))


def _decoded_hits(lake: Lake, needles: list[bytes]) -> int:
    cells: set[bytes] = set()
    for path in Path(lake.root).rglob("*.parquet"):
        cells |= _cells(path)
    return sum(1 for needle in needles if needle in cells)


def _faces(lake: Lake, kind: str) -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
    """(the person's aligned PNGs, their vectors as float32 bytes, the others' PNGs, the others' vectors)."""
    vectors = lake.read(EMBEDDINGS)
    if kind == "subject":
        images = lake.read(FRAMES, columns=["subject", "aligned"])
        mine = pc.equal(images.column("subject"), SUBJECT)
        frame_vectors = vectors.filter(pc.equal(vectors.column("source"), "frames"))
        vectors_mine = pc.equal(frame_vectors.column("identity"), "001")
        vectors = frame_vectors
    else:
        images = lake.read(PHOTOS, columns=["user", "aligned"])
        mine = pc.equal(images.column("user"), USER)
        vectors = vectors.filter(pc.equal(vectors.column("source"), "photos"))
        vectors_mine = pc.equal(vectors.column("identity"), USER)

    def png(table):
        return [b for b in table.column("aligned").to_pylist() if b]

    def floats(table):
        return [np.asarray(v, np.float32).tobytes() for v in table.column("vector").to_pylist()]

    return (
        png(images.filter(mine)),
        floats(vectors.filter(vectors_mine)),
        png(images.filter(pc.invert(mine))),
        floats(vectors.filter(pc.invert(vectors_mine))),
    )


def _plant_mentions(lake: Lake, person: Person) -> dict:
    """A run row naming the person, as other jobs write them; for a subject also a train run on their frames."""
    if person.kind == "subject":
        video = min(p for p in person.parts if "/" in p)
        stem = video.rsplit("/", 1)[-1]
        record = RunRecord(lake, job="ingest", source="/data/siw", args={"full": False}).start()
        record.finish(
            status="succeeded",
            counts={"failures": [[video, "corrupt", f"cannot open {stem}.mov as a video"]], "videos_found": 14},
        )
        train = {
            "train_id": "train-20250101T000000Z-abcd/P1",
            "run_id": "train-20250101T000000Z-abcd",
            "protocol": "P1",
            "frames_version": lake.version(FRAMES),
            "frame_acer": 0.125,
            "metrics_json": json.dumps({"validation_subjects": [SUBJECT]}),
        }
        lake.append(TRAIN_RUNS, pa.Table.from_pylist([train], schema=TRAIN_RUNS.schema))
        _plant_scores(lake, train["train_id"])
    else:
        record = RunRecord(
            lake, job="dedup", source="photos", args={"undo": USER, "where": "\"user\" IN ('user_01', 'user_03')"}
        ).start()
        record.finish(status="succeeded", counts={"single_face_links": [["user_01", USER, f"{USER}/02.jpg"]]})
    return {"run_id": record.run_id}


def _plant_scores(lake: Lake, train_id: str) -> None:
    """`facelake score` rows of that train run: three faces of the subject, three of another subject."""
    frames = lake.read(FRAMES, columns=["video_id", "frame_index", "split", "label", "subject", "run_id"])
    mine = frames.filter(pc.equal(frames.column("subject"), SUBJECT)).slice(0, 3).to_pylist()
    other = frames.filter(pc.not_equal(frames.column("subject"), SUBJECT)).slice(0, 3).to_pylist()
    assert len(mine) == 3 and len(other) == 3
    rows = [
        {
            **{k: f[k] for k in ("video_id", "frame_index", "split", "label", "subject")},
            "train_id": train_id,
            "protocol": "P1",
            "face_key": f"{f['video_id']}#{f['frame_index']}",
            "part": "test",
            "score": 0.25 * (i % 4),
            "threshold": 0.5,
            "decision": "spoof" if 0.25 * (i % 4) >= 0.5 else "live",
            "frames_run_id": f["run_id"],
        }
        for i, f in enumerate(mine + other)
    ]
    lake.append(SCORES, pa.Table.from_pylist(rows, schema=SCORES.schema))


def _plant_uncommitted_files(lake: Lake, kind: str) -> tuple[Path, Path]:
    """Files a worker wrote and no commit lists (its run died first): one with some of the person's rows, one with
    someone else's. (paths)"""
    from etl.lake.files import write_staged

    spec, column, value = (FRAMES, "subject", SUBJECT) if kind == "subject" else (PHOTOS, "user", USER)
    rows = lake.read(spec)
    mine = rows.filter(pc.equal(rows.column(column), value)).slice(0, 3)
    other = rows.filter(pc.not_equal(rows.column(column), value)).slice(0, 3)
    (mine_file,), (other_file,) = write_staged(lake, spec, mine), write_staged(lake, spec, other)
    return Path(lake.uri(spec)) / mine_file.path, Path(lake.uri(spec)) / other_file.path


# ---------------------------------------------------------------- the erasure, end to end


@pytest.mark.parametrize("kind", ["subject", "user"])
def test_forget_removes_the_person_from_every_table_and_every_byte_on_disk(lake, built, kind):
    person = _person(lake, kind)
    planted = _plant_mentions(lake, person)
    base = (VIDEOS, FRAMES, EMBEDDINGS, SCORES) if kind == "subject" else (PHOTOS, EMBEDDINGS)
    erased_tables = base + DERIVED
    before = {spec.name: _rows(lake, spec) for spec in ALL_TABLES.values()}
    versions = {spec.name: lake.version(spec) for spec in ALL_TABLES.values()}
    mine = {name: [r for r in rows if person.named_in(r)] for name, rows in before.items()}
    assert len(mine[base[0].name]) >= 3 and len(mine["embeddings"]) >= 3 and mine["label_checks"]
    if kind == "user":  # the merge group, its evidence and user_09's faces filed under user_03
        assert len(mine["identity_merges"]) == 2 and len(mine["identity_pairs"]) == 1
    pngs, vectors, other_pngs, other_vectors = _faces(lake, kind)
    assert len(pngs) >= 3 and len(vectors) >= 3 and other_pngs and other_vectors
    uncommitted_mine, uncommitted_other = _plant_uncommitted_files(lake, kind)
    # the byte search finds the person's faces and vectors in the lake's files before forget. PNGs are stored whole;
    # a vector's 512 bytes can lose their raw form in a file (a back-reference of a compressed page, a page boundary),
    # so most, not all, of them are found raw; the decoded search is the exact one
    files = _lake_files(lake)
    assert _raw_hits(files, pngs) == len(pngs) and _raw_hits(files, vectors) >= 0.8 * len(vectors)
    assert _decoded_hits(lake, vectors) == len(vectors)

    result = run_job_cli("forget", "--lake", lake.root, f"--{kind}", person.arg)
    # a file no commit listed goes if it holds the person (forget finds it by its rows); another stays for maintain
    assert not uncommitted_mine.exists() and uncommitted_other.exists()

    # (a) no row of any table names the person; runs rows that did keep their row, names replaced
    after = {spec.name: _rows(lake, spec) for spec in ALL_TABLES.values()}
    for name, rows in after.items():
        assert not [r for r in rows if person.named_in(r)], name
    [redacted] = [r for r in after["runs"] if r["run_id"] == planted["run_id"]]
    assert redacted["status"] == "succeeded" and ERASED in redacted["counts_json"]
    if kind == "user":
        assert json.loads(redacted["args_json"]) == {"undo": ERASED, "where": f"\"user\" IN ('user_01', '{ERASED}')"}
        assert json.loads(redacted["counts_json"]) == {
            "single_face_links": [["user_01", ERASED, ERASED]]
        }  # the photo id whole
    else:
        [[video, status, reason]] = json.loads(redacted["counts_json"])["failures"]
        assert (video, status, reason) == (ERASED, "corrupt", f"cannot open {ERASED}.mov as a video")

    # (b) everybody else's rows are exactly as before; derived rows naming the person are gone
    for spec in ALL_TABLES.values():
        if spec.name in ("runs", "erasures"):
            continue
        kept = [r for r in before[spec.name] if not person.named_in(r)]
        assert _checksum(after[spec.name], spec) == _checksum(kept, spec), spec.name
        assert len(before[spec.name]) - len(after[spec.name]) == len(mine[spec.name]), spec.name
    old_runs = {r["run_id"]: r for r in before["runs"] if not person.named_in(r)}
    assert {r["run_id"]: r for r in after["runs"] if r["run_id"] in old_runs} == old_runs

    # (c) no file under the lake holds their faces or vectors: raw bytes, and decoded Parquet values
    files = _lake_files(lake)
    assert _raw_hits(files, pngs) == 0 and _raw_hits(files, vectors) == 0
    assert _decoded_hits(lake, pngs) == 0 and _decoded_hits(lake, vectors) == 0
    assert _decoded_hits(lake, other_pngs) == len(other_pngs)  # the search still sees rewritten files
    assert _decoded_hits(lake, other_vectors) == len(other_vectors)
    # nor their ids, outside the Delta logs (see the next test): no data file, no Parquet footer
    for path, data in files.items():
        if "/_delta_log/" in f"/{path}":
            continue
        assert not any(part.encode() in data for part in person.parts | person.exact if len(part) > 3), path
    faces = set(pngs)
    for path in Path(lake.root).rglob("*.parquet"):
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(column)
                stats = chunk.statistics
                if stats is None or not stats.has_min_max:
                    continue
                if chunk.path_in_schema == "subject" and kind == "subject":
                    assert not stats.min <= SUBJECT <= stats.max, path
                for value in (stats.min, stats.max):
                    assert value not in faces, path
                    assert not (isinstance(value, str) and person.named_in({"stat": value})), path
    # no commit file left names the person (forget purges older ones; its own name only a hash)
    for spec in erased_tables:
        for path in sorted((Path(lake.uri(spec)) / "_delta_log").glob("*.json")):
            text = path.read_text()
            assert not any(part in text for part in person.parts | person.exact if len(part) > 3), (
                spec.name,
                path.name,
            )
    # the DuckDB catalog holds views only
    import duckdb

    with duckdb.connect(str(Path(lake.root) / "catalog.duckdb"), read_only=True) as catalog:
        assert catalog.sql("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
        views = {r[0] for r in catalog.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views == set(ALL_TABLES) | {"facelake_catalog"}  # and the record of the lake it was made for

    # (d) time travel: the version before forget cannot be read any more (its commit and its
    # files are gone: delta-rs raises its own not-found error); every older version either
    # fails the same way or holds none of the person's rows
    for spec in erased_tables:
        if mine[spec.name]:
            with pytest.raises(Exception, match="No files in log segment|No such file|not found"):
                lake.read(spec, version=versions[spec.name])
        for version in range(versions[spec.name]):
            try:
                rows = lake.read(spec, version=version).to_pylist()
            except Exception as error:  # purged or vacuumed
                assert "log segment" in str(error) or isinstance(error, OSError), error
                continue
            assert not [r for r in rows if person.named_in(r)], (spec.name, version)

    # (e) the erasure entry and the run record: the hash, the counts, never the id
    [erasure] = _rows(lake, ERASURES)
    assert (erasure["kind"], erasure["person_sha256"], erasure["status"]) == (kind, person.sha256, "erased")
    tables = {t["table"]: t for t in erasure["tables"]}
    assert {name: t["rows_removed"] for name, t in tables.items() if t["rows_removed"]} == {
        spec.name: len(mine[spec.name]) for spec in erased_tables if mine[spec.name]
    }
    assert tables["runs"]["rows_redacted"] == erasure["rows_redacted"] == 1
    assert erasure["rows_removed"] == sum(len(mine[spec.name]) for spec in erased_tables)
    assert all(tables[spec.name]["files_vacuumed"] >= 1 for spec in erased_tables if mine[spec.name])
    assert erasure["files_vacuumed"] == sum(t["files_vacuumed"] for t in tables.values())
    assert all(tables[s.name]["version_before"] == versions[s.name] for s in erased_tables)
    assert set(tables) == {spec.name for spec in erased_tables} | {"runs"}
    assert "not retrained" in erasure["note"]
    [run] = [r for r in after["runs"] if r["job"] == "forget"]
    assert run["status"] == "succeeded" and run["run_id"] == erasure["run_id"]
    assert json.loads(run["args_json"]) == {"kind": kind, "person_sha256": person.sha256, "dry_run": False}
    assert json.loads(run["counts_json"])["erasure_id"] == erasure["erasure_id"]
    for row in (erasure, run):
        assert not person.named_in(row)
        assert person.arg not in [s for s in _strings(row)]
    if kind == "subject":
        assert erasure["models_not_retrained"] == ["train-20250101T000000Z-abcd/P1"]  # still in train_runs, unchanged
        sources = [r for r in mine["videos"] if (Path(r["source_root"]) / r["path"]).exists()]
        assert erasure["source_files_present"] == len(sources) >= 1
        assert (
            f"{len(sources)} source files of subject sha256:{person.sha256[:12]} are still in their source tree"
            in result.stderr
        )
    else:
        assert erasure["models_not_retrained"] == []
        assert erasure["source_files_present"] == len(mine["photos"])
        assert USER not in result.stderr  # the log names the person by hash only


def test_no_delta_log_names_the_person_after_forget(lake):
    person = _person(lake, "user")
    run_job_cli("forget", "--lake", lake.root, "--user", USER)
    logs = {path: data for path, data in _lake_files(lake).items() if "/_delta_log/" in f"/{path}"}
    named = sorted(path for path, data in logs.items() if any(p.encode() in data for p in person.exact | person.parts))
    assert named == []


# ---------------------------------------------------------------- the same erasure on an S3 lake


def _upload(client, root: Path, prefix: str) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "catalog.duckdb":  # an S3 lake has no catalog
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(root)}")


def _download(client, prefix: str, root: Path) -> int:
    """Every object under the prefix, as files under root; how many there were."""
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/")
        for item in page.get("Contents", [])
    ]
    for key in keys:
        target = root / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(BUCKET, key, str(target))
    return len(keys)


@pytest.mark.parametrize("kind", ["subject", "user"])
def test_forget_on_an_s3_lake_leaves_no_object_holding_the_person(built, s3, tmp_path, kind):
    client, prefix = s3["client"], f"{S3_PREFIX}/{kind}"
    _upload(client, built.lake, prefix)
    local = Lake(str(built.lake))
    person = _person(local, kind)
    pngs, vectors, other_pngs, other_vectors = _faces(local, kind)
    erased_tables = ((VIDEOS, FRAMES, EMBEDDINGS) if kind == "subject" else (PHOTOS, EMBEDDINGS)) + DERIVED
    before = {spec.name: _rows(local, spec) for spec in ALL_TABLES.values()}
    remote = Lake.open(f"s3://{BUCKET}/{prefix}", environ=s3["env"])
    versions = {spec.name: remote.version(spec) for spec in erased_tables}

    result = subprocess.run(
        [sys.executable, "-m", "jobs.forget", "--lake", remote.root, f"--{kind}", person.arg],
        cwd=REPO,
        env=s3_job_env(s3),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "noncurrent versions" in result.stderr and SECRET not in result.stderr

    # every object left under the prefix, fetched: none holds their faces, vectors or ids
    mirror = tmp_path / "mirror"
    assert _download(client, prefix, mirror) > 0
    files = _lake_files(Lake(str(mirror)))
    assert _raw_hits(files, pngs) == 0 and _raw_hits(files, vectors) == 0
    assert _decoded_hits(Lake(str(mirror)), pngs) == 0 and _decoded_hits(Lake(str(mirror)), vectors) == 0
    assert _decoded_hits(Lake(str(mirror)), other_pngs) == len(other_pngs)
    assert _decoded_hits(Lake(str(mirror)), other_vectors) == len(other_vectors)
    named = sorted(
        path
        for path, data in files.items()
        if any(part.encode() in data for part in person.parts | person.exact if len(part) > 3)
    )
    assert named == []
    # read through S3: nobody else lost a row; time travel to before the erasure is gone
    for spec in ALL_TABLES.values():
        if spec.name in ("runs", "erasures"):
            continue
        kept = [r for r in before[spec.name] if not person.named_in(r)]
        assert _checksum(_rows(remote, spec), spec) == _checksum(kept, spec), spec.name
    for spec in erased_tables:
        for version in range(versions[spec.name] + 1):
            try:
                rows = remote.read(spec, version=version).to_pylist()
            except Exception as error:  # purged or vacuumed
                assert "log segment" in str(error) or "not found" in str(error).lower() or isinstance(error, OSError), (
                    error
                )
                continue
            assert not [r for r in rows if person.named_in(r)], (spec.name, version)
    [erasure] = _rows(remote, ERASURES)
    assert (erasure["kind"], erasure["person_sha256"], erasure["status"]) == (kind, person.sha256, "erased")
    tables = {t["table"]: t for t in erasure["tables"]}
    held = [spec.name for spec in erased_tables if any(person.named_in(r) for r in before[spec.name])]
    assert len(held) >= 3 and all(tables[name]["files_vacuumed"] >= 1 for name in held)
    assert erasure["rows_removed"] == sum(1 for name in held for r in before[name] if person.named_in(r))


# ---------------------------------------------------------------- refusals, nothing found, dry run


def _tiny_lake(root: Path) -> Lake:
    lake = Lake(str(root))
    rows = [
        {
            "video_id": f"Train/live/00{s}/00{s}-1-1-1-1",
            "frame_index": i,
            "split": "train",
            "label": "live",
            "subject": s,
            "det_status": "ok",
            "aligned": bytes([s]) * 64,
        }
        for s in (1, 2)
        for i in range(3)
    ]
    lake.append(FRAMES, pa.Table.from_pylist(rows, schema=FRAMES.schema))
    return lake


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "one of the arguments --subject --user is required"),
        (["--subject", "1", "--user", "user_01"], "argument --user: not allowed with argument --subject"),
    ],
)
def test_neither_or_both_persons_exit_2(tmp_path, capsys, argv, message):
    lake = _tiny_lake(tmp_path / "lake")
    before = _tree(Path(lake.root))
    with pytest.raises(SystemExit) as exit_info:
        forget.main(["--lake", lake.root, *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert _tree(Path(lake.root)) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--subject", "abc"], "--subject must be a SiW subject number such as 7 or 007, got 'abc'"),
        (["--subject", "-3"], "--subject must be a SiW subject number such as 7 or 007, got '-3'"),
        (["--user", ""], "--user is empty"),
        (["--user", "a/b"], "--user must be one folder name of the photo tree"),
    ],
)
def test_bad_person_exits_2_before_any_work(tmp_path, caplog, argv, message):
    lake = _tiny_lake(tmp_path / "lake")
    before = _tree(Path(lake.root))
    with caplog.at_level(logging.ERROR):
        assert forget.main(["--lake", lake.root, *argv]) == 2
    assert message in caplog.text
    assert _tree(Path(lake.root)) == before


def test_a_folder_without_tables_is_refused_and_stays_as_it_was(tmp_path):
    """`forget` never creates a lake; the exit code 2 and its one line are tested through the CLI
    in tests/test_cli_help.py (every lake-reading job x four wrong paths)."""
    from etl.lake.lake import LakeNotFoundError

    missing = tmp_path / "nowhere"
    with pytest.raises(LakeNotFoundError, match=f"no facelake lake at {tmp_path}: none of its tables"):
        forget.main(["--lake", str(tmp_path), "--subject", "1"])
    with pytest.raises(LakeNotFoundError, match=f"no facelake lake at {missing}: no such folder"):
        forget.main(["--lake", str(missing), "--user", "user_01"])
    assert list(tmp_path.iterdir()) == []


def test_a_person_with_no_rows_changes_nothing_and_is_recorded(tmp_path, caplog):
    lake = _tiny_lake(tmp_path / "lake")
    frames = _tree(Path(lake.uri(FRAMES)))
    with caplog.at_level(logging.INFO):
        assert forget.main(["--lake", lake.root, "--subject", "42"]) == 0
        assert forget.main(["--lake", lake.root, "--user", "nobody"]) == 0
    assert caplog.text.count("nothing to forget") == 2
    assert _tree(Path(lake.uri(FRAMES))) == frames  # no delete, no vacuum
    erasures = sorted(_rows(lake, ERASURES), key=lambda e: e["requested_at"])
    assert [(e["kind"], e["status"], e["rows_removed"], e["files_vacuumed"]) for e in erasures] == [
        ("subject", "nothing_found", 0, 0),
        ("user", "nothing_found", 0, 0),
    ]
    assert erasures[0]["person_sha256"] == hashlib.sha256(b"42").hexdigest()


def test_dry_run_counts_and_changes_nothing(tmp_path, caplog):
    lake = _tiny_lake(tmp_path / "lake")
    before = _tree(Path(lake.root))
    with caplog.at_level(logging.INFO):
        assert forget.main(["--lake", lake.root, "--subject", "007", "--dry-run"]) == 0
        assert forget.main(["--lake", lake.root, "--subject", "002", "--dry-run"]) == 0
    assert "nothing to forget" in caplog.text  # subject 7
    assert "dry run (nothing changed): 3 rows would be removed" in caplog.text  # subject 2
    assert _tree(Path(lake.root)) == before


def test_a_subject_is_hashed_as_its_plain_number():
    assert ForgetRequest(kind="subject", person="007").person == "7"
    assert ForgetRequest(kind="subject", person="007").sha256 == hashlib.sha256(b"7").hexdigest()
    assert ForgetRequest(kind="user", person="Anna Maria").sha256 == hashlib.sha256(b"Anna Maria").hexdigest()
    assert "Anna" not in ForgetRequest(kind="user", person="Anna Maria").label


def test_redactor_replaces_whole_names_only():
    redactor = Redactor(tokens={"user_03"}, exact={"003"})
    assert redactor.text("user_03/01.jpg failed; user_030 fine") == f"{ERASED}/01.jpg failed; user_030 fine"
    assert redactor.json_text(json.dumps({"undo": "003", "elapsed": "0.003", "user_03": 2})) == json.dumps(
        {ERASED: 2, "elapsed": "0.003", "undo": ERASED}, sort_keys=True
    )
    unchanged = '{"b": 1,  "a": "user_01"}'
    assert redactor.json_text(unchanged) == unchanged  # untouched text is not reformatted
    assert Redactor(tokens={"Zoë"}, exact=set()).text("Zoë/1.jpg Zoëa") == f"{ERASED}/1.jpg Zoëa"


def test_a_rerun_finishes_an_erasure_that_failed_before_its_vacuum(tmp_path, monkeypatch, caplog):
    from etl.erasure.run import run_forget

    lake = _tiny_lake(tmp_path / "lake")
    marker = bytes([2]) * 64  # subject 2's aligned bytes
    assert marker in b"".join(_tree(Path(lake.uri(FRAMES))).values())

    def busy(self, spec, **kwargs):
        raise OSError("disk busy")

    with monkeypatch.context() as patch:
        patch.setattr(Lake, "vacuum", busy)
        with pytest.raises(OSError, match="disk busy"):
            run_forget(lake=lake, request=ForgetRequest(kind="subject", person="2"))
    [failed] = _rows(lake, RUNS)
    assert failed["status"] == "failed" and failed["error"] == "OSError: disk busy"
    assert lake.read(FRAMES).column("subject").to_pylist() == [1, 1, 1]  # the rows went ...
    assert marker in b"".join(_tree(Path(lake.uri(FRAMES))).values())  # ... their bytes did not
    assert not lake.exists(ERASURES)

    with caplog.at_level(logging.INFO):
        assert forget.main(["--lake", lake.root, "--subject", "2"]) == 0
    assert f"left unfinished by {failed['run_id']}" in caplog.text and "nothing to forget" not in caplog.text
    assert marker not in b"".join(_tree(Path(lake.uri(FRAMES))).values())
    [erasure] = _rows(lake, ERASURES)
    assert (erasure["status"], erasure["rows_removed"]) == ("erased", 0)
    assert {t["table"]: t["files_vacuumed"] for t in erasure["tables"]}["frames"] == 1

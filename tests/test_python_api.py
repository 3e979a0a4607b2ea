"""facelake's public Python API (`facelake.open_lake`) and the reading recipes of docs/reading.md.

Reads are compared exactly with what `etl.lake.lake.Lake` reads from the same real ingested
lake (the session's `clean_ingest`). The recipes the docs call safe run in fresh
subprocesses, which must exit 0: deltalake's own `to_pyarrow_table()` can abort a
process at exit with code 134 (delta-rs issue 2184), which is why the API exists.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import REPO, subprocess_env

import facelake
from etl.lake.lake import Lake
from schemas import ALL_TABLES, FRAMES, VIDEOS

DOC = REPO / "docs" / "reading.md"
# a docs code block whose first line is this comment is run by these tests against the test lake
CHECKED = re.compile(r"^# prints the number of rows of (?P<table>\w+) \(checked by tests/test_python_api\.py\)$")
DOC_LAKE = "demo/lake"


@pytest.fixture(scope="module")
def lake_path(clean_ingest) -> Path:
    return clean_ingest.lake


@pytest.fixture(scope="module")
def reader(lake_path) -> facelake.LakeReader:
    return facelake.open_lake(lake_path)


@pytest.fixture(scope="module")
def truth(lake_path) -> Lake:
    return Lake(str(lake_path))


def run_python(code: str, *, timeout: float = 300) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter, as a user's script or notebook kernel would run it."""
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def expect_clean_exit(result: subprocess.CompletedProcess, what: str) -> None:
    assert result.returncode == 0, (
        f"{what} exited {result.returncode} (134 is the delta-rs exit abort):\n"
        f"stdout: {result.stdout[-1000:]}\nstderr: {result.stderr[-3000:]}"
    )
    assert "terminate called" not in result.stderr, result.stderr[-2000:]


# -- the API, in process ---------------------------------------------------------------


def test_open_lake_lists_tables_and_versions(reader, truth, lake_path):
    assert reader.root == str(lake_path.resolve())
    assert repr(reader) == f"LakeReader({str(lake_path.resolve())!r})"
    assert reader.tables() == [name for name, spec in ALL_TABLES.items() if truth.exists(spec)]
    assert {"videos", "frames", "runs"} <= set(reader.tables())
    for name in reader.tables():
        assert reader.version(name) == truth.version(ALL_TABLES[name])
    assert reader.version("photos") is None  # a facelake table the ingest does not write
    assert reader.schema("frames") == FRAMES.schema


@pytest.mark.parametrize("name", ["videos", "frames", "runs"])
def test_table_equals_what_the_lake_module_reads(reader, truth, name):
    spec = ALL_TABLES[name]
    columns = [c for c in spec.schema.names if c not in ("aligned", "crop")] if name == "frames" else None
    got = reader.table(name, columns=columns)
    expected = truth.read(spec, columns=columns)
    assert got.num_rows == expected.num_rows > 0
    assert got.schema == expected.schema
    assert got.schema == (spec.schema if columns is None else pa.schema([spec.schema.field(c) for c in columns]))
    keys = ["video_id", "frame_index"] if name == "frames" else [spec.schema.names[0]]
    order = [(key, "ascending") for key in keys]
    assert got.sort_by(order).equals(expected.sort_by(order))


def test_frames_count_matches_the_ingest(reader):
    frames = reader.table("frames", columns=["video_id", "frame_index"])
    videos = reader.table("videos", columns=["video_id", "n_frames"])
    assert frames.num_rows == pc.sum(videos.column("n_frames")).as_py() > 0
    keys = {(v, i) for v, i in zip(frames.column("video_id").to_pylist(), frames.column("frame_index").to_pylist())}
    assert len(keys) == frames.num_rows  # every frame once


def test_table_columns_in_the_order_asked(reader):
    table = reader.table("frames", columns=["det_status", "label", "video_id"])
    assert table.column_names == ["det_status", "label", "video_id"]
    assert table.schema.field("label").type == pa.string()


def test_table_filters_as_tuples_and_as_expressions(reader, truth):
    everything = truth.read(FRAMES, columns=["video_id", "frame_index", "split", "label", "det_status", "det_score"])
    live = reader.table("frames", columns=["label", "det_status"], filters=[("label", "=", "live")])
    assert live.num_rows == pc.sum(pc.equal(everything.column("label"), "live")).as_py() > 0
    assert set(live.column("label").to_pylist()) == {"live"}
    # a conjunction with `in`
    both = reader.table(
        "frames",
        columns=["video_id"],
        filters=[("label", "=", "spoof"), ("det_status", "in", ["no_face", "low_score"])],
    )
    expected = everything.filter((pc.field("label") == "spoof") & pc.field("det_status").isin(["no_face", "low_score"]))
    assert both.num_rows == expected.num_rows
    # DNF: a list of lists is an OR of ANDs
    either = reader.table(
        "frames", columns=["video_id"], filters=[[("label", "=", "live")], [("det_status", "!=", "ok")]]
    )
    expected = everything.filter((pc.field("label") == "live") | (pc.field("det_status") != "ok"))
    assert either.num_rows == expected.num_rows
    # a pyarrow expression, on a column that is not returned
    early = reader.table("frames", columns=["video_id"], filters=pc.field("frame_index") < 5)
    assert early.num_rows == everything.filter(pc.field("frame_index") < 5).num_rows > 0
    none = reader.table("frames", columns=["video_id"], filters=[("split", "=", "no-such-split")])
    assert none.num_rows == 0 and none.schema == pa.schema([FRAMES.schema.field("video_id")])


def test_table_version_time_travel(reader, truth):
    newest = reader.version("frames")
    assert newest >= 1
    for version in range(newest + 1):
        expected = truth.read(FRAMES, columns=["video_id", "frame_index"], version=version)
        got = reader.table("frames", version=version, columns=["video_id", "frame_index"])
        assert got.num_rows == expected.num_rows
        filtered = reader.table("frames", version=version, columns=["video_id"], filters=[("label", "=", "live")])
        assert (
            filtered.num_rows
            == truth.read(FRAMES, columns=["video_id"], version=version, filters=[("label", "=", "live")]).num_rows
        )
    assert reader.table("frames", version=newest).num_rows == reader.table("frames").num_rows
    assert len(reader.files("frames", version=newest)) == len(truth.file_uris(FRAMES))


def test_files_are_exactly_the_version_files(reader, truth, lake_path):
    import pyarrow.dataset as ds

    files = reader.files("frames")
    assert sorted(files) == sorted(truth.file_uris(FRAMES))
    assert all(Path(f).is_file() and str(lake_path.resolve()) in f for f in files)
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=f"{reader.root}/frames")
    assert dataset.count_rows() == truth.read(FRAMES, columns=["video_id"]).num_rows
    assert reader.files("photos") == []


def test_sql_with_a_parameter(reader, truth):
    frames = truth.read(FRAMES, columns=["label", "det_status"])
    result = reader.sql("SELECT count(*) AS n FROM frames WHERE label = $label", params={"label": "spoof"})
    assert isinstance(result, pa.Table)
    assert result.to_pylist() == [{"n": pc.sum(pc.equal(frames.column("label"), "spoof")).as_py()}]
    by_status = reader.sql("SELECT status, count(*) AS n FROM videos GROUP BY ALL ORDER BY status")
    videos = truth.read(VIDEOS, columns=["status"]).column("status").to_pylist()
    assert by_status.to_pylist() == [{"status": s, "n": videos.count(s)} for s in sorted(set(videos))]


def test_sql_is_read_only_and_checks_parameters(reader):
    from etl.lake.query import ReadOnlyError

    with pytest.raises(ReadOnlyError, match="read-only"):
        reader.sql("DELETE FROM videos")
    with pytest.raises(ValueError, match=r"not used by the query"):
        reader.sql("SELECT count(*) FROM videos", params={"label": "live"})


def test_connect_gives_duckdb_relations(reader, truth):
    with reader.connect() as connection:
        relation = connection.sql("FROM frames SELECT label, count(*) AS n GROUP BY ALL ORDER BY label")
        rows = relation.fetchall()
    labels = truth.read(FRAMES, columns=["label"]).column("label").to_pylist()
    assert rows == [(label, labels.count(label)) for label in sorted(set(labels))]


def test_unknown_names_and_versions_are_clear_errors(reader):
    newest = reader.version("frames")
    with pytest.raises(
        ValueError,
        match=r"no table named 'frame'; facelake's tables are videos, frames, .*"
        r"\(this lake holds videos, frames",
    ):
        reader.table("frame")
    with pytest.raises(
        ValueError, match=rf"table 'frames' has no version {newest + 1}; its versions are 0 to {newest}"
    ):
        reader.table("frames", version=newest + 1)
    with pytest.raises(ValueError, match=r"has no version -1"):
        reader.files("frames", version=-1)
    with pytest.raises(ValueError, match=r"no job has written it yet"):
        reader.table("photos", version=0)
    with pytest.raises(ValueError, match=r"no column\(s\) \['score'\]; its columns are video_id, frame_index"):
        reader.table("frames", columns=["video_id", "score"])
    with pytest.raises(TypeError, match=r"write \['video_id'\]"):
        reader.table("frames", columns="video_id")
    with pytest.raises(ValueError, match=r"filter on 'score'"):
        reader.table("frames", filters=[("score", ">", 0.5)])
    with pytest.raises(ValueError, match=r"op '~' is not one of"):
        reader.table("frames", filters=[("label", "~", "live")])
    with pytest.raises(ValueError, match=r"no table named 'nope'"):
        reader.dataset("nope")
    with pytest.raises(ValueError, match=r"no table named 'nope'"):
        reader.version("nope")
    # a table no job has written reads as empty, with its schema
    assert reader.table("photos").num_rows == 0
    assert reader.table("photos").schema == ALL_TABLES["photos"].schema


def test_reads_never_go_through_deltalakes_arrow_readers(lake_path, monkeypatch):
    """The cause of the exit abort is deltalake's to_pyarrow_* readers (their Python filesystem handler);
    the abort itself comes in some runs only, so also check deterministically that no read uses them."""
    from deltalake import DeltaTable

    def refuse(*args, **kwargs):
        raise AssertionError("a facelake read went through deltalake's to_pyarrow_* reader")

    for name in ("to_pyarrow_table", "to_pyarrow_dataset", "to_pandas"):
        monkeypatch.setattr(DeltaTable, name, refuse)
    lake = facelake.open_lake(lake_path)
    for name in lake.tables():
        assert lake.table(name).num_rows >= 0
        assert lake.files(name)
    assert lake.table("frames", version=1, columns=["video_id"], filters=pc.field("frame_index") >= 0).num_rows >= 0
    assert lake.sql("SELECT count(*) AS n FROM frames").column("n")[0].as_py() > 0


def test_open_lake_without_a_lake(tmp_path, lake_path):
    with pytest.raises(facelake.LakeNotFoundError, match=r"no lake at .*missing: no such folder"):
        facelake.open_lake(tmp_path / "missing")
    with pytest.raises(facelake.LakeNotFoundError, match=r"no facelake lake at .*none of its tables"):
        facelake.open_lake(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"it is one Delta table; the lake is its parent folder"):
        facelake.open_lake(lake_path / "frames")
    with pytest.raises(ValueError, match=r"storage_options are for an s3:// lake"):
        facelake.open_lake(lake_path, storage_options={"AWS_REGION": "us-east-1"})
    with pytest.raises(TypeError):
        facelake.open_lake(lake_path, {"AWS_REGION": "x"})  # keyword-only
    with pytest.raises(TypeError):
        facelake.open_lake(lake_path).table("frames", 1)  # keyword-only


# -- in fresh processes: exits 0 every time ---------------------------------------------


def doc_recipes() -> dict[str, tuple[str, str]]:
    """The docs' checked Python blocks: {name: (table whose row count the block prints last, code)}."""
    blocks = {}
    for number, block in enumerate(re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL), start=1):
        first, _, code = block.partition("\n")
        match = CHECKED.match(first.strip())
        if match:
            blocks[f"docs/reading.md python block {number} ({match['table']})"] = (match["table"], code)
    return blocks


def test_docs_have_the_checked_recipes():
    recipes = doc_recipes()
    assert len(recipes) >= 4, sorted(recipes)
    code = "\n".join(c for _, c in recipes.values())
    for needle in ("facelake.open_lake(", "catalog.duckdb", "read_only=True", "lake.files(", "lake.sql("):
        assert needle in code, f"docs/reading.md has no checked recipe using {needle}"


def _recipe_code(code: str, lake_path: Path) -> str:
    assert DOC_LAKE in code
    return code.replace(DOC_LAKE, str(lake_path))


def _check_recipe(result: subprocess.CompletedProcess, what: str, expected_rows: int) -> None:
    expect_clean_exit(result, what)
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert last == str(expected_rows), (
        f"{what} printed {last!r} last, expected {expected_rows}:\n{result.stdout[-1000:]}"
    )


def test_docs_recipes_exit_cleanly(lake_path, truth):
    """Every recipe docs/reading.md calls safe, three times each in fresh processes (two at a time)."""
    runs = [
        (name, table, _recipe_code(code, lake_path)) for name, (table, code) in doc_recipes().items() for _ in range(3)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda run: run_python(run[2]), runs))
    for (name, table, _), result in zip(runs, results):
        _check_recipe(result, name, truth.read(ALL_TABLES[table], columns=[ALL_TABLES[table].schema.names[0]]).num_rows)


API_SCRIPT = """
import json
import facelake

lake = facelake.open_lake({lake!r})
frames = lake.table("frames", columns=["video_id", "frame_index", "label", "det_status"])
live = lake.table("frames", columns=["video_id"], filters=[("label", "=", "live")])
videos = lake.table("videos")
ok = lake.sql("SELECT count(*) AS n FROM frames WHERE det_status = $status", params={{"status": "ok"}})
print(json.dumps({{"frames": frames.num_rows, "live": live.num_rows, "videos": videos.num_rows,
                  "ok": ok.column("n")[0].as_py()}}))
"""


def test_a_process_reading_through_the_api_exits_0_ten_times_of_ten(lake_path, truth):
    """The issue's acceptance test: deltalake's to_pyarrow_table() aborts such a process at exit (code 134)
    in some runs; reading through facelake.open_lake must exit 0 in all ten, with the right counts."""
    frames = truth.read(FRAMES, columns=["label", "det_status"])
    expected = {
        "frames": frames.num_rows,
        "live": pc.sum(pc.equal(frames.column("label"), "live")).as_py(),
        "videos": truth.read(VIDEOS, columns=["video_id"]).num_rows,
        "ok": pc.sum(pc.equal(frames.column("det_status"), "ok")).as_py(),
    }
    code = API_SCRIPT.format(lake=str(lake_path))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run_python(code), range(10)))
    codes = [r.returncode for r in results]
    assert codes == [0] * 10, f"exit codes {codes}; first failure's stderr:\n" + next(
        r.stderr[-3000:] for r in results if r.returncode
    )
    for result in results:
        expect_clean_exit(result, "the API script")
        assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_ray_dataset_in_a_fresh_process(lake_path, truth):
    """`.dataset()` gives a Ray Dataset of the version's files with the partition columns; the process exits 0."""
    code = f"""
import json
import ray
import facelake

ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
lake = facelake.open_lake({str(lake_path)!r})
ds = lake.dataset("frames", columns=["video_id", "frame_index", "label"])
rows = ds.take_all()
old = lake.dataset("frames", version=1, columns=["video_id"]).count()
print(json.dumps({{"names": ds.schema().names, "rows": len(rows),
                  "keys": sorted({{(r["video_id"], r["frame_index"], r["label"]) for r in rows}}),
                  "v1": old, "videos": lake.dataset("videos").count()}}))
"""
    result = run_python(code, timeout=600)
    expect_clean_exit(result, "the Ray dataset script")
    got = json.loads(result.stdout.strip().splitlines()[-1])
    frames = truth.read(FRAMES, columns=["video_id", "frame_index", "label"])
    assert got["names"] == ["video_id", "frame_index", "label"]
    assert got["rows"] == frames.num_rows
    assert [tuple(k) for k in got["keys"]] == sorted(zip(*(frames.column(c).to_pylist() for c in frames.column_names)))
    assert got["v1"] == truth.read(FRAMES, columns=["video_id"], version=1).num_rows
    assert got["videos"] == truth.read(VIDEOS, columns=["video_id"]).num_rows


def test_every_public_name_resolves_and_import_stays_light():
    """`facelake.__all__` is the public face: every name loads from its module, and importing the
    package alone starts neither Ray nor TensorFlow."""
    script = (
        "import sys, facelake\n"
        "heavy = sorted(m for m in ('ray', 'tensorflow', 'deltalake') if m in sys.modules)\n"
        "missing = [n for n in facelake.__all__ if getattr(facelake, n, None) is None]\n"
        "print(heavy, missing, len(facelake.__all__))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == f"[] [] {len(facelake._EXPORTS)}"
    assert facelake.run_ingest.__module__ == "etl.ingest.run"
    assert issubclass(facelake.UsageError, facelake.FacelakeError) and issubclass(facelake.UsageError, ValueError)

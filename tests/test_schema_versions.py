"""Schema versions: a lake this facelake wrote stays readable by later code; a newer one is refused.

tests/data/lake_v1 is a committed lake of every table at schema version 1 (written by
tests/data/make_lake_v1.py in December 2026, never regenerated) with its rows in
tests/data/lake_v1.json. Columns added since are read as nulls (tests/test_schema_evolution.py
covers the writes).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import REPO, subprocess_env, tree_digest
from deltalake import write_deltalake

from etl.lake.lake import Lake, LakeError
from etl.lake.query import load_query, query_names, run_query
from schemas import ALL_TABLES, VIDEOS

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA))
from make_lake_v1 import canonical  # noqa: E402

EXPECTED = json.loads((DATA / "lake_v1.json").read_text())


@pytest.fixture
def lake_v1(tmp_path) -> Lake:
    shutil.copytree(DATA / "lake_v1", tmp_path / "lake")
    return Lake(str(tmp_path / "lake"))


def test_the_committed_lake_holds_every_table_of_today():
    assert set(EXPECTED) == set(ALL_TABLES)
    assert {name: table["version"] for name, table in EXPECTED.items()} == {name: 1 for name in ALL_TABLES}


@pytest.mark.parametrize("name", sorted(ALL_TABLES))
def test_a_version_1_table_reads_with_this_code(lake_v1, name):
    spec, expected = ALL_TABLES[name], EXPECTED[name]
    before = tree_digest(Path(lake_v1.root))
    table = lake_v1.read(spec)
    assert table.num_rows == 2
    assert set(expected["columns"]) <= set(table.column_names)
    assert canonical(table.select(expected["columns"]).to_pylist()) == expected["rows"]
    added = [c for c in spec.schema.names if c not in expected["columns"]]
    for column in added:  # columns added after version 1 read as nulls
        assert table.column(column).null_count == 2, column
    assert tree_digest(Path(lake_v1.root)) == before  # reading writes nothing


def test_every_query_runs_on_the_version_1_lake(lake_v1):
    answers = {name: run_query(lake_v1, load_query(name)) for name in query_names()}
    assert all(isinstance(answer, pa.Table) for answer in answers.values())
    assert answers and len(answers) == len(query_names())


def _newer_videos_table(lake: Lake) -> None:
    rows = pa.Table.from_pylist(
        [{"video_id": "Train/live/001/001-1-1-1-1", "status": "ok"}],
        schema=pa.schema([VIDEOS.schema.field("video_id"), VIDEOS.schema.field("status")]),
    )
    write_deltalake(lake.uri(VIDEOS), rows, description=f"facelake videos schema v{VIDEOS.version + 1}")


def test_a_table_of_a_newer_schema_version_is_refused_with_a_clear_message(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _newer_videos_table(lake)
    message = (
        f"table 'videos' at {lake.uri(VIDEOS)} has schema version {VIDEOS.version + 1}, newer than this "
        f"facelake's {VIDEOS.version}; upgrade facelake to read it"
    )
    with pytest.raises(LakeError) as refused:
        lake.read(VIDEOS)
    assert str(refused.value) == message
    before = tree_digest(Path(lake.root))
    source = tmp_path / "siw"
    (source / "Train" / "live").mkdir(parents=True)  # a SiW tree with nothing in it yet: the lake is what is refused
    for job in (["audit", "--lake", lake.root], ["ingest", "--source", str(source), "--lake", lake.root]):
        result = subprocess.run(
            [sys.executable, "-m", f"jobs.{job[0]}", *job[1:]],
            cwd=REPO,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 2, result.stderr[-3000:]
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert tree_digest(Path(lake.root)) == before  # refused before any write

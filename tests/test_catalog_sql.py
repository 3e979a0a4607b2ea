"""The DuckDB catalog plain DuckDB opens, and `facelake sql` refusing every kind of write."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from etl.lake.catalog import RECORD_VIEW
from etl.lake.lake import Lake
from jobs import sql
from schemas import ALL_TABLES, FRAMES, RUNS, VIDEOS


def test_catalog_is_written_by_ingest_and_opens_in_plain_duckdb(clean_ingest, tmp_path):
    catalog = clean_ingest.lake / "catalog.duckdb"
    assert catalog.is_file()
    expected = (
        Lake(str(clean_ingest.lake)).read(FRAMES, columns=["det_status"]).column("det_status").to_pylist().count("ok")
    )
    # a separate interpreter that imports only duckdb, run outside the repository
    script = (
        "import duckdb, sys\n"
        f"c = duckdb.connect({str(catalog)!r}, read_only=True)\n"
        "print(c.sql(\"SELECT count(*) FROM frames WHERE det_status = 'ok'\").fetchone()[0])\n"
        "print(sorted(r[0] for r in c.sql('SELECT table_name FROM information_schema.tables').fetchall()))\n"
        "print(any(m.split('.')[0] in ('etl', 'jobs', 'schemas') for m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    count, tables, imported = result.stdout.strip().splitlines()
    assert int(count) == expected
    assert tables == str(sorted([*ALL_TABLES, RECORD_VIEW]))
    assert imported == "False"


WRITES = [
    ("INSERT INTO runs SELECT * FROM runs", "INSERT"),
    ("DELETE FROM frames", "DELETE"),
    ("CREATE TABLE stolen AS SELECT * FROM frames", "CREATE"),
    ("COPY (SELECT * FROM videos) TO '{out}'", "COPY"),
    ("ATTACH '{out}' AS other", "ATTACH"),
    ("DROP VIEW frames", "DROP"),
    ("UPDATE videos SET status = 'ok'", "UPDATE"),
    ("INSTALL httpfs", "LOAD"),
]


@pytest.mark.parametrize(("statement", "kind"), WRITES)
def test_sql_refuses_writes_and_leaves_the_lake_unchanged(clean_ingest, tmp_path, caplog, statement, kind):
    lake = Lake(str(clean_ingest.lake))
    versions = {spec.name: lake.version(spec) for spec in (VIDEOS, FRAMES, RUNS)}
    out = tmp_path / "out.file"
    with caplog.at_level(logging.ERROR):
        code = sql.main(["--lake", str(clean_ingest.lake), statement.format(out=out)])
    assert code == 2
    assert f"read-only: a statement of type {kind} is refused" in caplog.text
    assert not out.exists()
    assert {spec.name: lake.version(spec) for spec in (VIDEOS, FRAMES, RUNS)} == versions


def test_sql_runs_one_statement_at_a_time(clean_ingest, caplog):
    with caplog.at_level(logging.ERROR):
        code = sql.main(["--lake", str(clean_ingest.lake), "SELECT 1; DROP VIEW frames"])
    assert code == 2
    assert "facelake sql runs one statement at a time; got 2" in caplog.text


def test_sql_cannot_read_files_outside_the_lake(clean_ingest, caplog):
    with caplog.at_level(logging.ERROR):
        code = sql.main(["--lake", str(clean_ingest.lake), "SELECT * FROM read_text('/etc/hostname')"])
    assert code == 2
    assert "table function read_text() is refused" in caplog.text


def test_the_connection_itself_cannot_read_outside_the_current_data_files(clean_ingest):
    """The second layer on its own: DuckDB's file access is limited to the current data files."""
    import duckdb

    from etl.lake.query import connect

    connection = connect(Lake(str(clean_ingest.lake)))
    try:
        assert connection.execute("SELECT count(*) FROM frames").fetchone()[0] > 0
        for statement in (
            "SELECT * FROM read_text('/etc/hostname')",
            f"SELECT count(*) FROM read_parquet('{clean_ingest.lake}/frames/**/*.parquet')",
            f"SELECT * FROM read_json_auto('{clean_ingest.lake}/videos/_delta_log/*.json')",
        ):
            with pytest.raises(duckdb.PermissionException, match="file system operations are disabled"):
                connection.execute(statement).fetchall()
    finally:
        connection.close()

"""`facelake sql` cannot change anything: an adversarial corpus of statements, run through the CLI.

Every statement must exit 2 with one clear `facelake sql: error: ...` line and no traceback, and after the
whole corpus the lake folder, the working folder and a marker folder (the target of the
writes and of the reads "outside the lake") must be byte-identical. The second layer
(`etl.lake.query.connect`'s file lock-down) is also run alone on the same corpus, without the
statement check, and must leave the same folders unchanged too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO, subprocess_env

# {lake}, {marker} and {data_file} (a data file of the current `videos` version) are replaced by
# the test's paths. Grouped by what they try.
CORPUS: dict[str, str] = {
    # writes, plainly
    "copy_to_marker": "COPY (SELECT 1 AS a) TO '{marker}/out.csv'",
    "copy_into_delta_log": "COPY videos TO '{lake}/videos/_delta_log/00000000000000009999.json'",
    "copy_parquet_into_table_folder": "COPY frames TO '{lake}/frames/evil.parquet' (FORMAT parquet)",
    "copy_over_current_data_file": "COPY (SELECT 1 AS a) TO '{data_file}' (USE_TMP_FILE false)",
    "attach_current_data_file": "ATTACH '{data_file}' AS x",
    "insert": "INSERT INTO videos SELECT * FROM videos",
    "update": "UPDATE videos SET status = 'ok'",
    "delete": "DELETE FROM frames",
    "create_table_as": "CREATE TABLE t AS SELECT 1",
    "create_view": "CREATE OR REPLACE VIEW videos AS SELECT 1",
    "drop_view": "DROP VIEW frames",
    "alter": "ALTER VIEW videos RENAME TO v2",
    "create_macro": "CREATE MACRO m() AS 1",
    "create_sequence": "CREATE SEQUENCE s",
    "truncate": "TRUNCATE frames",
    "vacuum": "VACUUM",
    "checkpoint": "CHECKPOINT",
    "export_database": "EXPORT DATABASE '{marker}/export'",
    "import_database": "IMPORT DATABASE '{marker}'",
    "attach_new_file": "ATTACH '{marker}/evil.duckdb' AS evil",
    "attach_catalog": "ATTACH '{lake}/catalog.duckdb' AS cat",
    "use": "USE memory",
    "begin": "BEGIN TRANSACTION",
    "pivot": "PIVOT frames ON det_status USING count(*)",
    # extensions, settings, secrets
    "install": "INSTALL httpfs",
    "force_install": "FORCE INSTALL delta",
    "load": "LOAD delta",
    "set_external_access": "SET enable_external_access = true",
    "set_allowed_directories": "SET allowed_directories = ['/']",
    "reset": "RESET allowed_paths",
    "pragma_profiling_output": "PRAGMA profiling_output = '{marker}/profile.json'",
    "pragma_enable_profiling": "PRAGMA enable_profiling",
    "call_enable_logging": "CALL enable_logging()",
    "create_secret": "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
    "create_persistent_secret": "CREATE PERSISTENT SECRET p (TYPE s3, KEY_ID 'k', SECRET 'v')",
    "list_secrets": "SELECT * FROM duckdb_secrets()",
    # writes wrapped in EXPLAIN ANALYZE (which runs its statement), EXPLAIN of writes
    "explain_analyze_copy_into_log": (
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{lake}/videos/_delta_log/00000000000000009999.json'"
    ),
    "explain_analyze_insert": "EXPLAIN ANALYZE INSERT INTO videos SELECT * FROM videos",
    "explain_analyze_select": "EXPLAIN ANALYZE SELECT count(*) FROM frames",
    "explain_options_analyze": "EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{marker}/out.csv'",
    "explain_copy": "EXPLAIN COPY (SELECT 1) TO '{marker}/out.csv'",
    # comments, odd case, several statements
    "comments_odd_case": "/* read */ eXpLaIn /* only */ AnAlYzE cOpY (sElEcT 1) tO '{marker}/out.csv'",
    "line_comment_then_copy": "-- just a select\nCOPY (SELECT 1) TO '{marker}/out.csv'",
    "select_then_copy": "SELECT 1; COPY (SELECT 1) TO '{marker}/out.csv'",
    "select_then_attach": "SELECT count(*) FROM frames;\nATTACH '{marker}/evil.duckdb'",
    "empty_statements_then_drop": "sElEcT 1;;; DROP VIEW frames",
    "two_selects": "SELECT 1; SELECT 2",
    # reads of files outside the lake, by every table function that reads files
    "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
    "read_csv_auto": "SELECT * FROM read_csv_auto('{marker}/secret.txt')",
    "read_text": "SELECT * FROM read_text('{marker}/secret.txt')",
    "read_blob": "SELECT * FROM read_blob('/etc/hostname')",
    "read_json": "SELECT * FROM read_json('{marker}/secret.json')",
    "read_json_auto": "SELECT * FROM read_json_auto('{marker}/secret.json')",
    "read_ndjson": "SELECT * FROM read_ndjson('{marker}/secret.json')",
    "read_json_objects": "SELECT * FROM read_json_objects('{marker}/secret.json')",
    "read_parquet_outside": "SELECT * FROM read_parquet('{marker}/secret.parquet')",
    "parquet_scan": "SELECT * FROM parquet_scan('{marker}/secret.parquet')",
    "parquet_metadata": "SELECT * FROM parquet_metadata('{marker}/secret.parquet')",
    "parquet_schema": "SELECT * FROM parquet_schema('{marker}/secret.parquet')",
    "sniff_csv": "SELECT * FROM sniff_csv('/etc/passwd')",
    "glob": "SELECT * FROM glob('/*')",
    "read_duckdb": "SELECT * FROM read_duckdb('{lake}/catalog.duckdb')",
    "query_function": "SELECT * FROM query('SELECT * FROM read_text(''/etc/hostname'')')",
    "query_table": "SELECT * FROM query_table('videos')",
    "sqlite_scan": "SELECT * FROM sqlite_scan('{marker}/x.db', 't')",
    # files under the lake that are not the current data files
    "superseded_data_files": "SELECT count(*) FROM read_parquet('{lake}/frames/**/*.parquet')",
    "delta_log": "SELECT * FROM read_json_auto('{lake}/videos/_delta_log/*.json')",
    "catalog_bytes": "SELECT * FROM read_blob('{lake}/catalog.duckdb')",
    # path traversal
    "traversal_from_lake": "SELECT * FROM read_text('{lake}/../marker/secret.txt')",
    "traversal_to_etc": "SELECT * FROM read_csv('{lake}/videos/../../../../../../etc/passwd')",
    # table functions with side effects, also hidden in subqueries and CTEs
    "enable_logging": "SELECT * FROM enable_logging()",
    "enable_logging_to_file": "SELECT * FROM enable_logging(storage = 'file', storage_path = '{marker}/log')",
    "enable_profiling": "SELECT * FROM enable_profiling()",
    "checkpoint_function": "SELECT * FROM checkpoint()",
    "truncate_logs": "SELECT * FROM truncate_duckdb_logs()",
    "scalar_subquery_read": "SELECT (SELECT count(*) FROM read_text('/etc/hostname')) AS n",
    "cte_read": "WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x",
    "in_subquery_read": (
        "SELECT count(*) FROM frames WHERE video_id IN (SELECT content FROM read_text('{marker}/secret.txt'))"
    ),
}


def folder_digest(root: Path) -> dict[str, tuple]:
    """Every entry under root, folders included: kind, mode, size, mtime and the sha256 of files."""
    out: dict[str, tuple] = {}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs:
            info = (Path(directory) / name).lstat()
            out[str((Path(directory) / name).relative_to(root)) + "/"] = ("dir", info.st_mode, info.st_mtime_ns)
        for name in files:
            path = Path(directory) / name
            info = path.lstat()
            out[str(path.relative_to(root))] = (
                "file",
                info.st_mode,
                info.st_size,
                info.st_mtime_ns,
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
    return out


@pytest.fixture(scope="module")
def folders(clean_ingest, tmp_path_factory):
    """A copy of the clean lake, an empty working folder and a marker folder holding files to steal."""
    base = tmp_path_factory.mktemp("sql-read-only")
    lake = base / "lake"
    shutil.copytree(clean_ingest.lake, lake)
    from etl.lake.catalog import refresh_catalog
    from etl.lake.lake import Lake

    refresh_catalog(Lake(str(lake)))  # re-point the copy's catalog (else every run warns that it is stale)
    marker = base / "marker"
    marker.mkdir()
    (marker / "secret.txt").write_text("not for facelake sql\n")
    (marker / "secret.json").write_text('{"secret": 1}\n')
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"secret": [1, 2, 3]}), marker / "secret.parquet")
    work = base / "work"
    work.mkdir()
    return {"lake": lake, "marker": marker, "work": work}


def _statement(template: str, folders: dict[str, Path]) -> str:
    from etl.lake.lake import Lake
    from schemas.videos import VIDEOS

    data_file = Lake(str(folders["lake"])).file_uris(VIDEOS)[0]
    return template.format(lake=folders["lake"], marker=folders["marker"], data_file=data_file)


def _sql_cli(folders: dict[str, Path], sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.sql", "--lake", str(folders["lake"]), sql],
        cwd=folders["work"],
        env={**subprocess_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_corpus_is_large_and_covers_every_kind_of_attack():
    assert len(CORPUS) >= 40
    text = "\n".join(CORPUS.values()).upper()
    for needle in (
        "COPY",
        "INSERT",
        "EXPLAIN ANALYZE",
        "ATTACH",
        "EXPORT DATABASE",
        "SET ",
        "RESET",
        "PRAGMA",
        "SECRET",
        "INSTALL",
        "LOAD",
        "READ_CSV",
        "READ_TEXT",
        "READ_BLOB",
        "READ_JSON",
        "READ_PARQUET",
        "GLOB",
        "/../",
        ";",
        "/*",
        "--",
    ):
        assert needle in text, needle


def test_every_hostile_statement_exits_2_with_one_line_and_changes_nothing(folders):
    before = {name: folder_digest(path) for name, path in folders.items()}
    statements = {name: _statement(template, folders) for name, template in CORPUS.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(statements, pool.map(lambda sql: _sql_cli(folders, sql), statements.values())))
    problems = []
    for name, result in results.items():
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        if (
            result.returncode != 2
            or len(lines) != 1
            or not lines[0].startswith("facelake sql: error: ")
            or "Traceback" in result.stderr
            or result.stdout.strip()
        ):
            problems.append(
                f"{name}: exit {result.returncode}, stdout {result.stdout[:200]!r}, stderr {result.stderr[-600:]!r}"
            )
    assert not problems, "\n".join(problems)
    after = {name: folder_digest(path) for name, path in folders.items()}
    for name in folders:
        assert after[name] == before[name], f"the {name} folder changed"


def test_the_headline_exploit_is_refused_and_the_lake_still_reads(folders):
    sql = f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{folders['lake']}/videos/_delta_log/00000000000000009999.json'"
    result = _sql_cli(folders, sql)
    assert result.returncode == 2
    assert "EXPLAIN ANALYZE is refused" in result.stderr
    assert not (folders["lake"] / "videos" / "_delta_log" / "00000000000000009999.json").exists()
    readable = _sql_cli(folders, "SELECT count(*) AS n FROM videos")
    assert readable.returncode == 0, readable.stderr


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("SELECT count(*) AS n FROM frames", None),
        ("EXPLAIN SELECT count(*) FROM frames WHERE det_status = 'ok'", None),
        ("-- a comment\nFROM videos SELECT status, count(*) AS n GROUP BY ALL ORDER BY status", None),
        ("WITH f AS (SELECT * FROM frames) SELECT count(*) AS n FROM f JOIN range(1) r ON true", None),
        ("DESCRIBE frames", None),
        ("SELECT count(*) AS n FROM lake_files", None),
        # what the refusals and `facelake sql --help` say runs besides SELECT
        ("SHOW TABLES", "frames"),
        ("SHOW ALL TABLES", "videos"),
        ("SHOW videos", "video_id"),
        ("DESC videos", "video_id"),
        ("SUMMARIZE SELECT det_status FROM frames", "det_status"),
        ("VALUES (1, 'a')", "a"),
        ("TABLE runs", "ingest"),
        ("UNPIVOT (SELECT 1 AS a, 2 AS b) ON a, b INTO NAME k VALUE v", "b"),
        ("EXPLAIN DESCRIBE frames", None),
    ],
)
def test_plain_queries_still_run(folders, sql, expected):
    result = _sql_cli(folders, sql)
    assert result.returncode == 0, result.stderr
    if expected is not None:
        assert expected in result.stdout


def test_the_refusal_and_the_help_say_exactly_what_runs(folders):
    from etl.lake.query import ALLOWED_STATEMENTS
    from jobs import sql

    for word in (
        "SELECT",
        "WITH",
        "FROM-first",
        "VALUES",
        "TABLE",
        "UNPIVOT",
        "DESCRIBE",
        "SHOW",
        "SUMMARIZE",
        "EXPLAIN",
    ):
        assert word in ALLOWED_STATEMENTS
    refused = _sql_cli(folders, "PRAGMA enable_profiling")
    explain = _sql_cli(folders, "EXPLAIN DROP VIEW frames")
    assert f"refused; it runs {ALLOWED_STATEMENTS}" in refused.stderr.replace("\n", " ")
    assert f"EXPLAIN of a DROP statement is refused; it runs {ALLOWED_STATEMENTS}" in explain.stderr
    assert f"facelake sql runs {ALLOWED_STATEMENTS}" in " ".join(sql.build_parser().format_help().split())


def test_plain_query_answers_equal_the_lake(folders):
    from etl.lake.lake import Lake
    from etl.lake.query import run_query
    from schemas.frames import FRAMES

    lake = Lake(str(folders["lake"]))
    frames = lake.read(FRAMES, columns=["det_status"]).column("det_status").to_pylist()
    rows = run_query(lake, "SELECT det_status, count(*) AS n FROM frames GROUP BY ALL ORDER BY det_status").to_pylist()
    assert {r["det_status"]: r["n"] for r in rows} == {s: frames.count(s) for s in set(frames)}


# DuckDB's allowed_paths does not tell reading from writing: a write statement could overwrite a
# file it may read. Refusing every write statement is the first layer's job; these two show the limit.
WRITES_TO_READABLE_FILES = ("copy_over_current_data_file", "attach_current_data_file")

LAYER_TWO_ALONE = textwrap.dedent('''
    """Run every statement on a fresh `connect()` connection without the statement check."""
    import json, os, sys
    from etl.lake.lake import Lake
    from etl.lake.query import connect

    lake = Lake(sys.argv[1])
    outcomes, connections = {}, []
    for name, sql in json.loads(sys.stdin.read()).items():
        connection = connect(lake)
        # kept open: a connection whose logging was switched on (to a folder it may not write)
        # aborts the process when closed; the first layer never lets that statement run
        connections.append(connection)
        try:
            connection.execute(sql).fetchall()
            outcomes[name] = "ran"
        except Exception as error:  # noqa: BLE001 - recorded
            outcomes[name] = type(error).__name__
    print(json.dumps(outcomes), flush=True)
    os._exit(0)
''')


def test_the_connection_alone_reaches_no_file_but_the_current_data(folders):
    """Layer two without layer one: statements may run in memory, but no file changes and no file
    outside the current data files is read."""
    before = {name: folder_digest(path) for name, path in folders.items()}
    import json

    statements = {
        name: _statement(template, folders) for name, template in CORPUS.items() if name not in WRITES_TO_READABLE_FILES
    }
    result = subprocess.run(
        [sys.executable, "-c", LAYER_TWO_ALONE, str(folders["lake"])],
        input=json.dumps(statements),
        cwd=folders["work"],
        env={**subprocess_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    reads = [
        name
        for name in CORPUS
        if name.startswith(
            (
                "read_",
                "parquet_",
                "sniff",
                "glob",
                "superseded",
                "delta_log",
                "catalog_bytes",
                "traversal",
                "scalar_subquery",
                "cte_read",
                "in_subquery",
                "copy_",
                "explain_analyze_copy",
                "export",
                "attach",
                "install",
                "force_install",
                "load",
                "set_",
                "reset",
            )
        )
    ]
    leaked = {name: outcomes[name] for name in reads if outcomes.get(name) == "ran"}
    assert not leaked, f"ran without the statement check: {leaked}"
    after = {name: folder_digest(path) for name, path in folders.items()}
    for name in folders:
        assert after[name] == before[name], f"the {name} folder changed"

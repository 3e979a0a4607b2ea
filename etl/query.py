"""DuckDB over the lake: every Delta table as a view, named queries from `queries/*.sql`.

Tables are registered as pyarrow datasets of their current Delta snapshot, so DuckDB
reads only the files of that version. Queries take DuckDB named parameters (`$name`),
bound by DuckDB, never formatted into the SQL text.

Queries are read-only, enforced twice: only SELECT/EXPLAIN statements are accepted
(DuckDB's own parser says what each statement is), and the connection runs with
external access disabled and its configuration locked, so no statement can write a
file, attach a database or load an extension.
"""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from etl.lake import Lake
from schemas import ALL_TABLES

QUERIES_DIR = Path(__file__).resolve().parents[1] / "queries"


READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")


class ReadOnlyError(ValueError):
    """A statement that could change the lake, the catalog or the filesystem."""


def connect(lake: Lake):
    """An in-memory DuckDB with every table as a view, locked against writes and file access.

    On a local lake each view reads the data files of the table's current Delta version
    with DuckDB's own Parquet reader (parallel, with projection pushdown: several times
    faster than scanning a pyarrow dataset); file access is then limited to the lake
    folder. An object-store lake's tables are pyarrow datasets of the same files (read
    by pyarrow with the lake's storage options, which DuckDB never sees: its httpfs
    extension is not installable offline, and the options would have to be handed to
    DuckDB as a secret); DuckDB's own file access is then off entirely.
    """
    import duckdb

    connection = duckdb.connect()
    local = lake.is_local
    for name, spec in ALL_TABLES.items():
        files = lake.file_uris(spec) if lake.exists(spec) else []
        if files and local:
            connection.execute(_parquet_view(name, spec, files, lake.written_columns(spec), _duckdb_types(connection, spec)))
        elif files:
            dataset = lake.dataset(spec)
            connection.register(f"_arrow_{name}", dataset)
            connection.execute(_dataset_view(name, spec, dataset.schema.names, _duckdb_types(connection, spec)))
        else:
            connection.register(name, spec.schema.empty_table())
    # the data files of every table's current version, from the Delta logs (storage audits)
    connection.register("lake_files", pa.concat_tables([lake.file_stats(spec) for spec in ALL_TABLES.values()]))
    if local:
        connection.execute(f"SET allowed_directories = [{_literal(lake.root)}]")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duckdb_types(connection, spec) -> dict[str, str]:
    """DuckDB's type name for every column of the spec."""
    connection.register("_spec_types", spec.schema.empty_table())
    types = {row[0]: row[1] for row in connection.sql("DESCRIBE _spec_types").fetchall()}
    connection.unregister("_spec_types")
    return types


def _parquet_view(name: str, spec, files: list[str], written: list[str], types: dict[str, str]) -> str:
    """A view over the table's Parquet files, columns in schema order.

    Partition columns come from the folder names (Delta writes them hive-style,
    `split=train/label=live`). Files written before a column was added lack it
    (union_by_name fills NULL), and a column no file has yet is a typed NULL.
    """
    columns = ", ".join(
        f'"{c}"' if c in written else f'CAST(NULL AS {types[c]}) AS "{c}"' for c in spec.schema.names
    )
    listing = ", ".join(_literal(f) for f in files)
    hive = "true" if spec.partition_by else "false"
    return (f'CREATE VIEW "{name}" AS SELECT {columns} FROM '
            f"read_parquet([{listing}], hive_partitioning = {hive}, union_by_name = true)")


def _dataset_view(name: str, spec, present: list[str], types: dict[str, str]) -> str:
    """A view over the registered dataset `_arrow_<name>`, columns in schema order (a column
    the table's version lacks is a typed NULL), like `_parquet_view`."""
    columns = ", ".join(
        f'"{c}"' if c in present else f'CAST(NULL AS {types[c]}) AS "{c}"' for c in spec.schema.names
    )
    return f'CREATE VIEW "{name}" AS SELECT {columns} FROM "_arrow_{name}"'


def check_read_only(connection, sql: str) -> None:
    """Refuse any statement that is not a SELECT or EXPLAIN, naming what was found."""
    import duckdb

    try:
        statements = connection.extract_statements(sql)
    except duckdb.Error as error:
        raise ValueError(f"the query does not parse: {error}") from error
    if not statements:
        raise ValueError("the query is empty")
    for statement in statements:
        kind = str(statement.type).rsplit(".", 1)[-1]
        if kind not in READ_ONLY_STATEMENTS:
            raise ReadOnlyError(
                f"facelake sql is read-only: a statement of type {kind} is refused (only {', '.join(READ_ONLY_STATEMENTS)}); "
                "change the lake through facelake's jobs"
            )


def query_names() -> list[str]:
    return sorted(p.stem for p in QUERIES_DIR.glob("*.sql"))


def load_query(name: str) -> str:
    path = QUERIES_DIR / f"{name}.sql"
    if not path.is_file():
        raise ValueError(f"no query named {name!r}; known: {', '.join(query_names())}")
    return path.read_text()


def query_parameters(sql: str) -> list[str]:
    """The `$name` parameters a query uses (comments excluded)."""
    body = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return sorted(set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", body)))


def query_title(sql: str) -> str:
    """The first line of a query's leading comment (what it answers)."""
    for line in sql.splitlines():
        if line.startswith("--"):
            return line.lstrip("- ").strip()
        if line.strip():
            break
    return ""


def execute(connection, sql: str, params: dict | None = None):
    """Run read-only `sql` on an open `connect()` connection; unknown parameters are an
    error, parameters the query uses but not given are NULL."""
    params = dict(params or {})
    wanted = query_parameters(sql)
    unknown = sorted(set(params) - set(wanted))
    if unknown:
        raise ValueError(f"parameters {unknown} are not used by the query (it takes {wanted or 'none'})")
    check_read_only(connection, sql)
    return connection.sql(sql, params={name: params.get(name) for name in wanted}).to_arrow_table()


def run_query(lake: Lake, sql: str, params: dict | None = None):
    """Run one read-only query over the lake (again, on a transient error of an object store: reads only)."""
    def once():
        connection = connect(lake)
        try:
            return execute(connection, sql, params)
        finally:
            connection.close()

    if lake.is_local:
        return once()
    from etl.storage import with_read_retries

    return with_read_retries(once, options=lake.storage_options, what="query")

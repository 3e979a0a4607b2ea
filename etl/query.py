"""DuckDB over the lake: every Delta table as a view, named queries from `queries/*.sql`.

Tables are registered as pyarrow datasets of their current Delta snapshot, so DuckDB
reads only the files of that version. Queries take DuckDB named parameters (`$name`),
bound by DuckDB, never formatted into the SQL text.
"""
from __future__ import annotations

import re
from pathlib import Path

from etl.lake import Lake
from schemas import ALL_TABLES

QUERIES_DIR = Path(__file__).resolve().parents[1] / "queries"


def connect(lake: Lake):
    import duckdb

    connection = duckdb.connect()
    for name, spec in ALL_TABLES.items():
        if lake.exists(spec):
            connection.register(name, lake.dataset(spec))
        else:
            connection.register(name, spec.schema.empty_table())
    return connection


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


def run_query(lake: Lake, sql: str, params: dict | None = None):
    """Run `sql` with named parameters; parameters it uses but not given are NULL."""
    params = dict(params or {})
    wanted = query_parameters(sql)
    unknown = sorted(set(params) - set(wanted))
    if unknown:
        raise ValueError(f"parameters {unknown} are not used by the query (it takes {wanted or 'none'})")
    bound = {name: params.get(name) for name in wanted}
    connection = connect(lake)
    try:
        return connection.sql(sql, params=bound).to_arrow_table()
    finally:
        connection.close()

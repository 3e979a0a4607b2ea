"""DuckDB over the lake: every Delta table as a view, named queries from `queries/*.sql`.

Tables are views over the data files of their current Delta version, so DuckDB reads
only the files of that version. Queries take DuckDB named parameters (`$name`), bound by
DuckDB, never formatted into the SQL text. A query declares its parameters and their
defaults in its leading comment, one line each (the defaults are bound when a value is not
given, so the comment is the one place a default is written):

    -- Parameters:
    --   $n = 10: number of videos
    --   $split = NULL: 'train' or 'test'; NULL lists both

A default is a SQL literal: NULL, a number or a 'quoted string'. `-- Parameters: none.`
says a query takes none.

Queries are read-only, enforced in two independent layers:
1. What may run (`check_read_only`): DuckDB's own parser must classify the text as
   exactly one plain query (SELECT, or `EXPLAIN` of one; not `EXPLAIN ANALYZE`, which
   runs its statement), and its syntax tree (`json_serialize_sql`) may call only pure
   table functions (`ALLOWED_TABLE_FUNCTIONS`): no file readers, no `query()`, no
   `enable_logging()`. Anything else is refused before it runs.
2. What DuckDB can touch (`connect`): the connection may open only the data files of
   the tables' current versions (`allowed_paths`, no directories: no older version, no
   Delta log, nothing outside the lake), never spills to disk, installs and loads no
   extension, and its configuration is locked. DuckDB's allowed paths do not tell
   reading from writing, so a write statement could still overwrite one of those files:
   refusing every write is layer 1's job.
`tests/test_sql_read_only.py` runs an adversarial corpus through the CLI (both layers),
and through layer 2 alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from etl.errors import UsageError
from etl.lake.lake import Lake
from schemas import ALL_TABLES

QUERIES_DIR = Path(__file__).resolve().parents[2] / "queries"


READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")
# What DuckDB's parser classifies as SELECT (checked in tests/test_sql_read_only.py), said in
# the refusals and in `facelake sql --help`
ALLOWED_STATEMENTS = (
    "one query: SELECT (also WITH, FROM-first, VALUES, TABLE, UNPIVOT), DESCRIBE, SHOW, "
    "SUMMARIZE, or a plain EXPLAIN of one of those"
)
# Table functions a query may call: pure generators over values. Everything else
# (file readers, `query()`, `enable_logging()`, `checkpoint()`, `duckdb_secrets()`, ...)
# is refused: the lake's tables are the views, and a table function is the one place a
# SELECT can reach files or change the connection.
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "json_each", "json_tree"})


class ReadOnlyError(UsageError):
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

    # no extension is installed or loaded behind a query's back; nothing spills to a temp folder
    connection = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "temp_directory": "",
        }
    )
    local = lake.is_local
    readable: list[str] = []
    for name, spec in ALL_TABLES.items():
        files = lake.file_uris(spec) if lake.exists(spec) else []
        if files and local:
            readable += files
            connection.execute(
                _parquet_view(name, spec, files, lake.written_columns(spec), _duckdb_types(connection, spec))
            )
        elif files:
            dataset = lake.dataset(spec)
            connection.register(f"_arrow_{name}", dataset)
            connection.execute(_dataset_view(name, spec, dataset.schema.names, _duckdb_types(connection, spec)))
        else:
            connection.register(name, spec.schema.empty_table())
    # the data files of every table's current version, from the Delta logs (storage audits)
    connection.register("lake_files", pa.concat_tables([lake.file_stats(spec) for spec in ALL_TABLES.values()]))
    # exactly the current data files, as files: no folder (so no older version, no log, no write)
    connection.execute(f"SET allowed_paths = [{', '.join(_literal(path) for path in readable)}]")
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
    columns = ", ".join(f'"{c}"' if c in written else f'CAST(NULL AS {types[c]}) AS "{c}"' for c in spec.schema.names)
    listing = ", ".join(_literal(f) for f in files)
    hive = "true" if spec.partition_by else "false"
    return (
        f'CREATE VIEW "{name}" AS SELECT {columns} FROM '
        f"read_parquet([{listing}], hive_partitioning = {hive}, union_by_name = true)"
    )


def _dataset_view(name: str, spec, present: list[str], types: dict[str, str]) -> str:
    """A view over the registered dataset `_arrow_<name>`, columns in schema order (a column
    the table's version lacks is a typed NULL), like `_parquet_view`."""
    columns = ", ".join(f'"{c}"' if c in present else f'CAST(NULL AS {types[c]}) AS "{c}"' for c in spec.schema.names)
    return f'CREATE VIEW "{name}" AS SELECT {columns} FROM "_arrow_{name}"'


def check_read_only(connection, sql: str) -> None:
    """Refuse anything but one plain query (or `EXPLAIN` of one) calling only pure table functions.

    Raises `ReadOnlyError` naming what was found, `ValueError` when the text does not parse.
    """
    statement = _single_statement(connection, sql)
    kind = _kind(statement)
    query = statement.query
    if kind == "EXPLAIN":
        query = _explained_query(query)
        kind = _kind(_single_statement(connection, query))
        if kind != "SELECT":
            raise ReadOnlyError(
                f"facelake sql is read-only: EXPLAIN of a {kind} statement is refused; it runs {ALLOWED_STATEMENTS}"
            )
    elif kind not in READ_ONLY_STATEMENTS:
        raise ReadOnlyError(
            f"facelake sql is read-only: a statement of type {kind} is refused; it runs {ALLOWED_STATEMENTS}; "
            "change the lake through facelake's jobs"
        )
    for name in _table_functions(_syntax_tree(connection, query)):
        if name.lower() not in ALLOWED_TABLE_FUNCTIONS:
            raise ReadOnlyError(
                f"facelake sql reads the lake's tables only: table function {name}() is refused "
                f"(allowed: {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))}); "
                f"query the views ({', '.join(ALL_TABLES)}, lake_files)"
            )


def _single_statement(connection, sql: str):
    import duckdb

    try:
        statements = connection.extract_statements(sql)
    except duckdb.Error as error:
        raise ValueError(f"the query does not parse: {first_line(error)}") from error
    if not statements:
        raise ValueError("the query is empty")
    if len(statements) > 1:
        raise ReadOnlyError(f"facelake sql runs one statement at a time; got {len(statements)}")
    return statements[0]


def _kind(statement) -> str:
    return str(statement.type).rsplit(".", 1)[-1]


def _explained_query(sql: str) -> str:
    """The query after a plain `EXPLAIN` (comments skipped by DuckDB's tokenizer); ANALYZE or options refused."""
    import duckdb

    starts = [start for start, _ in duckdb.tokenize(sql)]
    words = [re.match(r"\w+|\S", sql[start:]).group(0).lower() for start in starts]
    if len(words) < 2 or words[0] != "explain":
        raise ReadOnlyError(f"facelake sql is read-only: it runs {ALLOWED_STATEMENTS}")
    if words[1] in ("analyze", "analyse", "("):
        raise ReadOnlyError(
            f"facelake sql is read-only: EXPLAIN {words[1].upper()} is refused "
            "(it runs the statement); use plain EXPLAIN"
        )
    return sql[starts[1] :]


def _syntax_tree(connection, query: str) -> dict:
    """DuckDB's own syntax tree of one SELECT (it serialises SELECT statements only)."""
    import json

    tree = json.loads(connection.execute("SELECT json_serialize_sql($query)", {"query": query}).fetchone()[0])
    if tree.get("error"):
        raise ReadOnlyError(f"facelake sql is read-only: {tree.get('error_message', 'not a plain query')}")
    return tree


def _table_functions(node) -> list[str]:
    """Names of every table function called anywhere in a syntax tree (subqueries and CTEs included)."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION":
            found.append(str((node.get("function") or {}).get("function_name", "?")))
        for value in node.values():
            found += _table_functions(value)
    elif isinstance(node, list):
        for value in node:
            found += _table_functions(value)
    return found


def first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


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


@dataclass(frozen=True)
class Parameter:
    """A parameter a query declares in its leading comment: `--   $name = DEFAULT: description`."""

    name: str
    default: object  # None (NULL), int, float or str
    description: str

    @property
    def default_sql(self) -> str:
        return sql_literal(self.default)

    def value(self, text: str):
        """The value of `param` name=text, typed like the default (text when the default is NULL or text).

        Raises:
            UsageError: the text does not convert (about the `param` setting).
        """
        kind = type(self.default)
        try:
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise UsageError(
                f"{self.name}={text}: ${self.name} takes {what} (default {self.default_sql})", option="param"
            ) from None
        return text


_DECLARATION = re.compile(
    r"^--\s+\$([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(NULL|-?[0-9][0-9.eE+-]*|'(?:[^']|'')*')\s*:\s*(.*)$"
)


def declared_parameters(sql: str) -> list[Parameter]:
    """The parameters declared in the query's leading comment, in their order (see the module's docstring)."""
    declared, inside = [], False
    for line in sql.splitlines():
        if not line.startswith("--"):
            if line.strip():
                break
            continue
        if re.match(r"^--\s*Parameters:", line):
            inside = True
            continue
        match = _DECLARATION.match(line) if inside else None
        if match:
            declared.append(Parameter(match.group(1), _literal_value(match.group(2)), match.group(3).strip()))
    return declared


def _literal_value(text: str):
    if text.upper() == "NULL":
        return None
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else float(text)


def sql_literal(value) -> str:
    """A value as SQL would write it: NULL, 10, 0.5, 'text' (how help and headings show parameter values)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def parameter_values(sql: str, texts: dict[str, str]) -> dict[str, object]:
    """`param` name=value texts as typed values: a declared parameter's text is converted
    like its default (UsageError naming it when it does not convert); others stay text."""
    declared = {p.name: p for p in declared_parameters(sql)}
    return {name: declared[name].value(text) if name in declared else text for name, text in texts.items()}


def bound_parameters(sql: str, params: dict | None = None) -> dict[str, object]:
    """The value of every parameter the query uses: given, else its declared default, else NULL.

    Raises ValueError for a given parameter the query does not use.
    """
    params = dict(params or {})
    wanted = query_parameters(sql)
    unknown = sorted(set(params) - set(wanted))
    if unknown:
        raise ValueError(f"parameters {unknown} are not used by the query (it takes {wanted or 'none'})")
    defaults = {p.name: p.default for p in declared_parameters(sql)}
    return {name: params[name] if name in params else defaults.get(name) for name in wanted}


def describe_queries(names: list[str] | None = None, width: int = 100) -> str:
    """Every named query with what it answers and its parameters (name, default, meaning), for --help."""
    import textwrap

    lines = []
    for name in names or query_names():
        sql = load_query(name)
        lines.append(
            textwrap.fill(f"{name}: {query_title(sql)}", width, initial_indent="  ", subsequent_indent="      ")
        )
        for parameter in declared_parameters(sql):
            text = f"${parameter.name} (default {parameter.default_sql}): {parameter.description}"
            lines.append(textwrap.fill(text, width, initial_indent="      ", subsequent_indent="          "))
    return "\n".join(lines)


def execute(connection, sql: str, params: dict | None = None):
    """Run read-only `sql` on an open `connect()` connection; unknown parameters are an
    error, parameters the query uses but not given are their declared default, else NULL."""
    values = bound_parameters(sql, params)
    check_read_only(connection, sql)
    return connection.sql(sql, params=values).to_arrow_table()


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
    from etl.lake.storage import with_read_retries

    return with_read_retries(once, options=lake.storage_options, what="query")

"""Rows at the write boundary: tables cast to their schema, and SQL predicates over keys.

Apart from `lake` so that `files` (the staged Parquet files workers write) uses the same
casting and predicates without importing the Delta side.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from schemas import TableSpec

__all__ = ["cast_to_spec", "in_predicate", "sql_string"]


def sql_string(value: str) -> str:
    """A SQL string literal for a delta-rs predicate (quotes doubled, never formatted raw)."""
    return "'" + value.replace("'", "''") + "'"


def in_predicate(column: str, values: Iterable[str]) -> str:
    items = sorted(set(values))
    if not items:
        raise ValueError(f"in_predicate({column!r}) needs at least one value")
    return f"{column} IN ({', '.join(sql_string(v) for v in items)})"


def cast_to_spec(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Reorder and cast `table` to the spec's schema; a missing or extra column is an error."""
    missing = [n for n in spec.schema.names if n not in table.column_names]
    extra = [n for n in table.column_names if n not in spec.schema.names]
    if missing or extra:
        raise ValueError(f"table {spec.name!r}: rows do not match the schema (missing {missing}, unexpected {extra})")
    return table.select(spec.schema.names).cast(spec.schema)

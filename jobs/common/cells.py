"""One cell of a query's answer as text: for people (`human_cell`), for JSON (`json_value`) and for CSV (`csv_cell`).

The machine formats (csv, json, jsonl) write every value exactly, the same way in each:
- floats at full precision (the shortest text that reads back to the same double); NaN and
  infinities are `null` in JSON (which has no such numbers) and `nan`, `inf`, `-inf` in CSV;
- DECIMAL (e.g. `SELECT 1.5`): a JSON number, an integer when its scale is 0; its exact text in CSV;
- dates, times and timestamps: ISO 8601 text (`2026-01-01T02:00:00.500000+00:00`);
  intervals: ISO 8601 durations (`P1DT0.5S`);
- binary values (image bytes): the text `<N bytes>`;
- lists, structs and maps: JSON arrays and objects (maps as `[[key, value], ...]`); in CSV, that JSON text;
- NULL: `null` in JSON, an empty field in CSV; booleans: `true` / `false`.
The people's formats (table, markdown) round floats to 4 significant digits.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Iterator

import pyarrow as pa

__all__ = ["csv_cell", "human_cell", "iter_rows", "json_text", "json_value"]


def human_cell(value) -> str:
    """A cell for the table and markdown formats (floats to 4 significant digits)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, (dt.timedelta, pa.MonthDayNano)):
        return json_value(value)
    if isinstance(value, (dict, list, tuple)):
        return json_text(json_value(value))
    return str(value)


def _iso_duration(months: int, days: int, nanoseconds: int) -> str:
    text = "P" + (f"{months}M" if months else "") + (f"{days}D" if days else "")
    if nanoseconds or text == "P":
        seconds = format((Decimal(nanoseconds) / 10**9).normalize(), "f")
        text += f"T{seconds}S"
    return text


def json_value(value):
    """A cell as a JSON-ready Python value (see the module's docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return int(value) if value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _iso_duration(0, value.days, (value.seconds * 10**6 + value.microseconds) * 1000)
    if isinstance(value, pa.MonthDayNano):
        return _iso_duration(value.months, value.days, value.nanoseconds)
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    return str(value)


def csv_cell(value) -> str:
    """A cell as its exact CSV field text (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # nan, inf, -inf included: Python's float() and DuckDB read them back
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, pa.MonthDayNano):  # a named tuple, not a list
        return json_value(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(json_value(value), ensure_ascii=False, allow_nan=False)
    converted = json_value(value)
    return converted if isinstance(converted, str) else str(converted)


def json_text(value) -> str:
    """A JSON-ready value as compact JSON text (UTF-8 kept, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def iter_rows(table: pa.Table) -> Iterator[dict]:
    """The table's rows as JSON-ready objects, one record batch at a time."""
    names = table.column_names
    for batch in table.to_batches():
        columns = [column.to_pylist() for column in batch.columns]
        for values in zip(*columns):
            yield {name: json_value(value) for name, value in zip(names, values)}

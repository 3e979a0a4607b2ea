"""The CLI's output layer: Arrow tables as text for people, or CSV, JSON and JSON lines for programs.

Formats (`--format` of `facelake sql` and `facelake audit`):
- `table`, `markdown`: for reading; floats rounded to 4 significant digits.
- `csv`: one header line, then one line per row (RFC 4180 quoting).
- `json`: one JSON document (`facelake sql`: an array of row objects, `[]` when empty).
- `jsonl`: one JSON object per line, written as the rows come (nothing at all when empty).

The machine formats (csv, json, jsonl) write every value exactly, the same way in each:
- floats at full precision (the shortest text that reads back to the same double); NaN and
  infinities are `null` in JSON (which has no such numbers) and `nan`, `inf`, `-inf` in CSV;
- DECIMAL (e.g. `SELECT 1.5`): a JSON number, an integer when its scale is 0; its exact text in CSV;
- dates, times and timestamps: ISO 8601 text (`2026-01-01T02:00:00.500000+00:00`);
  intervals: ISO 8601 durations (`P1DT0.5S`);
- binary values (image bytes): the text `<N bytes>`;
- lists, structs and maps: JSON arrays and objects (maps as `[[key, value], ...]`); in CSV, that JSON text;
- NULL: `null` in JSON, an empty field in CSV; booleans: `true` / `false`.

Writes go straight to the stream, so a reader that leaves early (`| head`) raises
BrokenPipeError out of the job (`jobs.logs.run_job` turns it into a quiet exit 0).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from decimal import Decimal
from typing import IO, Iterator

import pyarrow as pa

FORMATS = ("table", "markdown", "csv", "json", "jsonl")
HUMAN_FORMATS = ("table", "markdown")
FORMATS_HELP = (
    "table and markdown to read (floats rounded to 4 digits); csv (one header line), "
    "json (one document) and jsonl (one object per line) for programs, every value exact: "
    "full-precision floats, ISO 8601 dates and times, binary as '<N bytes>'"
)


# ---------------------------------------------------------------- one value


def human_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, (dt.timedelta, pa.MonthDayNano)):
        return json_value(value)
    if isinstance(value, (dict, list, tuple)):
        return _json(json_value(value))
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


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- rows


def check_column_names(table: pa.Table) -> None:
    """Row objects need distinct column names (`SELECT 1 AS a, 2 AS a` would lose a value)."""
    seen, repeated = set(), []
    for name in table.column_names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise ValueError(
            f"the result has several columns named {', '.join(repeated)}; "
            "give them distinct names (AS ...) for json or jsonl output"
        )


def iter_rows(table: pa.Table) -> Iterator[dict]:
    """The table's rows as JSON-ready objects, one record batch at a time."""
    names = table.column_names
    for batch in table.to_batches():
        columns = [column.to_pylist() for column in batch.columns]
        for values in zip(*columns):
            yield {name: json_value(value) for name, value in zip(names, values)}


def row_objects(table: pa.Table) -> list[dict]:
    check_column_names(table)
    return list(iter_rows(table))


# ---------------------------------------------------------------- whole tables


def format_table(table: pa.Table, fmt: str = "table") -> str:
    """The table as text in one of FORMATS (no trailing newline)."""
    buffer = io.StringIO()
    write_table(table, fmt, buffer)
    return buffer.getvalue().rstrip("\n")


def write_table(table: pa.Table, fmt: str, stream: IO[str]) -> None:
    """Write the table to `stream` in one of FORMATS, ending with a newline (jsonl: one per row)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "csv":
        write_csv(table, stream)
    elif fmt == "json":
        check_column_names(table)
        write_json_array(iter_rows(table), stream)
    elif fmt == "jsonl":
        check_column_names(table)
        for row in iter_rows(table):
            stream.write(_json(row) + "\n")
    else:
        stream.write(_human(table, fmt) + "\n")


def write_csv(table: pa.Table, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(table.column_names)
    for batch in table.to_batches():
        columns = [column.to_pylist() for column in batch.columns]
        writer.writerows([csv_cell(value) for value in values] for values in zip(*columns))


def write_json_array(rows, stream: IO[str]) -> None:
    """A JSON array of objects, one per line (so `head` shows whole rows); `[]` when there is none."""
    first = True
    for row in rows:
        stream.write(("[\n" if first else ",\n") + _json(row))
        first = False
    stream.write("[]\n" if first else "\n]\n")


def _human(table: pa.Table, fmt: str) -> str:
    names = table.column_names
    cells = [[human_cell(value) for value in row] for row in zip(*(c.to_pylist() for c in table.columns))]
    if fmt == "markdown":
        escape = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = ["| " + " | ".join(escape(n) for n in names) + " |", "|" + "|".join("---" for _ in names) + "|"]
        return "\n".join(lines + ["| " + " | ".join(escape(c) for c in row) + " |" for row in cells])
    widths = [max([len(n)] + [len(row[i]) for row in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(row[i].ljust(widths[i]) for i in range(len(names))) for row in cells]
    return "\n".join(lines)

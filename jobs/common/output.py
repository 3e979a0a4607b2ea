"""The CLI's output layer: Arrow tables as text for people, or CSV, JSON and JSON lines for programs.

Formats (`--format` of `facelake sql` and `facelake audit`):
- `table`, `markdown`: for reading; floats rounded to 4 significant digits.
- `csv`: one header line, then one line per row (RFC 4180 quoting).
- `json`: one JSON document (`facelake sql`: an array of row objects, `[]` when empty).
- `jsonl`: one JSON object per line, written as the rows come (nothing at all when empty).
How each value is written (exactly, the same way in every machine format) is `jobs.common.cells`.

Writes go straight to the stream, so a reader that leaves early (`| head`) raises
BrokenPipeError out of the job (`jobs.common.runner.run_job` turns it into a quiet exit 0).
"""

from __future__ import annotations

import csv
import io
from typing import IO

import pyarrow as pa

from jobs.common.cells import csv_cell, human_cell, iter_rows, json_text

FORMATS = ("table", "markdown", "csv", "json", "jsonl")
HUMAN_FORMATS = ("table", "markdown")
FORMATS_HELP = (
    "table and markdown to read (floats rounded to 4 digits); csv (one header line), "
    "json (one document) and jsonl (one object per line) for programs, every value exact: "
    "full-precision floats, ISO 8601 dates and times, binary as '<N bytes>'"
)


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
            stream.write(json_text(row) + "\n")
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
        stream.write(("[\n" if first else ",\n") + json_text(row))
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

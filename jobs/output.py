"""The CLI's output layer: Arrow tables printed as aligned text, CSV, JSON lines or Markdown."""
from __future__ import annotations

import csv
import io
import json

import pyarrow as pa

FORMATS = ("table", "csv", "json", "markdown")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def format_table(table: pa.Table, fmt: str = "table") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    rows = table.to_pylist()
    names = table.column_names
    if fmt == "json":
        return "\n".join(json.dumps(r, default=_cell) for r in rows)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[_cell(r[n]) for n in names] for r in rows])
        return buffer.getvalue().rstrip("\n")
    cells = [[_cell(r[n]) for n in names] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c[i].ljust(widths[i]) for i in range(len(names))) for c in cells]
    return "\n".join(lines)

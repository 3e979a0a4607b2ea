"""Writes tests/data/lake_v1: a small lake of every table at schema version 1, as facelake
wrote them in December 2026, and lake_v1.json: the rows it holds.

Run once, committed, and NOT regenerated when schemas change: tests/test_schema_versions.py
checks that later facelake code still reads this lake (older lakes must stay readable).
Values are typed by each column's schema, with plausible keys (video ids, splits, labels).

    .venv/bin/python tests/data/make_lake_v1.py
    .venv/bin/python tests/data/make_lake_v1.py --new-tables   # add only tables the lake lacks

A table added to facelake later is written with `--new-tables`, at its first schema version,
leaving every committed table as it was.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from etl.lake.lake import Lake  # noqa: E402
from schemas import ALL_TABLES  # noqa: E402

KEYS = {
    "video_id": ["Train/live/001/001-1-1-1-1", "Test/spoof/002/002-2-3-3-3"],
    "split": ["train", "test"],
    "label": ["live", "spoof"],
    "source": ["frames", "photos"],
    "status": ["ok", "no_face_file"],
    "subject": [1, 2],
    "user": ["user_01", "user_02"],
    "job": ["ingest", "register"],
}


def value(field: pa.Field, row: int):
    """A deterministic value of the field's type for row `row` (0 or 1)."""
    if field.name in KEYS:
        return KEYS[field.name][row]
    kind = field.type
    if field.name.endswith("_json"):
        return json.dumps({"videos_found": 13 + row, "failures": []})
    if pa.types.is_string(kind):
        return f"{field.name}-{row}"
    if pa.types.is_boolean(kind):
        return row == 0
    if pa.types.is_integer(kind):
        return 10 * row + 3
    if pa.types.is_floating(kind):
        return 0.25 + row
    if pa.types.is_binary(kind):
        return bytes([row + 1]) * 16
    if pa.types.is_timestamp(kind):
        return datetime(2026, 12, 1, 12, row, tzinfo=timezone.utc)
    if pa.types.is_list(kind):
        return [value(kind.value_field, row), value(kind.value_field, 1 - row)]
    if pa.types.is_struct(kind):
        return {kind.field(i).name: value(kind.field(i), row) for i in range(kind.num_fields)}
    raise TypeError(f"{field.name}: no sample value for {kind}")


def canonical(rows: list[dict]) -> list[dict]:
    """Rows as JSON values: timestamps as ISO text, bytes as hex, floats as written (float32 ones rounded)."""

    def convert(item):
        if isinstance(item, bytes):
            return item.hex()
        if isinstance(item, datetime):
            return item.isoformat()
        if isinstance(item, float):
            return round(item, 6)
        if isinstance(item, list):
            return [convert(v) for v in item]
        if isinstance(item, dict):
            return {k: convert(v) for k, v in sorted(item.items())}
        return item

    return sorted((convert(r) for r in rows), key=lambda r: json.dumps(r, sort_keys=True))


def main(new_tables: bool = False) -> None:
    root = HERE / "lake_v1"
    expected = json.loads((HERE / "lake_v1.json").read_text()) if new_tables else {}
    if not new_tables:
        shutil.rmtree(root, ignore_errors=True)
    lake = Lake(str(root))
    for spec in ALL_TABLES.values():
        if spec.name in expected:
            continue
        rows = [{f.name: value(f, row) for f in spec.schema} for row in (0, 1)]
        lake.append(spec, pa.Table.from_pylist(rows, schema=spec.schema))
        expected[spec.name] = {"version": spec.version, "columns": spec.schema.names, "rows": canonical(rows)}
    (HERE / "lake_v1.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(new_tables="--new-tables" in sys.argv[1:])

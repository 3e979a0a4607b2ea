"""Benchmark results as JSON (`--json PATH`), so figures can be pasted or compared between runs."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import numpy as np

log = logging.getLogger("bench.results")


def _plain(value: object) -> object:
    """numpy scalars and arrays, decimals (DuckDB's HUGEINT sums), paths and sets as JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(path: Path, results: dict) -> None:
    """Write `results` to `path` (parents created), indented, keys in insertion order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=_plain) + "\n")
    log.info("wrote %s", path)

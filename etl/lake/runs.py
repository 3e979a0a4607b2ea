"""The `runs` table: every job writes a row when it starts and rewrites it when it ends."""
from __future__ import annotations

import importlib.metadata
import json
import socket
import uuid
from datetime import datetime, timezone

import pyarrow as pa

from etl.lake.lake import Lake, sql_string
from schemas import RUNS


def new_run_id(job: str) -> str:
    return f"{job}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def _version() -> str:
    try:
        return importlib.metadata.version("facelake")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class RunRecord:
    """A run's row: `start()` writes it as running, `finish()` replaces it with the outcome."""

    def __init__(self, lake: Lake, *, job: str, source: str | None, args: dict, run_id: str | None = None) -> None:
        self.lake = lake
        self.row = {
            "run_id": run_id or new_run_id(job),
            "job": job,
            "status": "running",
            "started_at": datetime.now(timezone.utc),
            "ended_at": None,
            "source": source,
            "args_json": json.dumps(args, sort_keys=True, default=str),
            "counts_json": None,
            "error": None,
            "facelake_version": _version(),
            "hostname": socket.gethostname(),
        }

    @property
    def run_id(self) -> str:
        return self.row["run_id"]

    def _write(self) -> None:
        table = pa.Table.from_pylist([self.row], schema=RUNS.schema)
        self.lake.replace_where(RUNS, table, predicate=f"run_id = {sql_string(self.run_id)}")

    def start(self) -> "RunRecord":
        self._write()
        return self

    def finish(self, *, status: str, counts: dict, error: str | None = None) -> None:
        self.row.update(status=status, ended_at=datetime.now(timezone.utc), counts_json=json.dumps(counts, sort_keys=True, default=str), error=error)
        self._write()

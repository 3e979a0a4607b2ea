"""The `runs` table: every job writes a row when it starts and rewrites it when it ends.

`recorded_run` is the one place a run's outcome is recorded: every job's `run_*` does its work
inside it, and it writes `succeeded`, `failed` (with the error) or `interrupted` (Ctrl-C,
SIGTERM) with the job's counts as they stand at that moment.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pyarrow as pa

from etl.lake.lake import Lake
from etl.lake.rows import sql_string
from schemas import RUNS
from schemas.vocabulary import RunStatus


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
        self.status: str = RunStatus.SUCCEEDED  # what `recorded_run` records when the work returns
        self.error: str | None = None  # and the error it records with it (a table maintenance could not do)
        self.row = {
            "run_id": run_id or new_run_id(job),
            "job": job,
            "status": RunStatus.RUNNING,
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
        self.row.update(
            status=status,
            ended_at=datetime.now(timezone.utc),
            counts_json=json.dumps(counts, sort_keys=True, default=str),
            error=error,
        )
        self._write()


@contextlib.contextmanager
def recorded_run(
    lake: Lake,
    *,
    job: str,
    source: str | None,
    args: dict,
    run_id: str | None = None,
    counts: Callable[[], dict] = dict,
    on_end: Callable[[BaseException | None], None] | None = None,
    describe_error: Callable[[BaseException], str] = repr,
) -> Iterator[RunRecord]:
    """Record a job's run around its work: `running` on entry, its outcome on exit.

    Args:
        counts: called once the work ends (or fails) for the counts to record.
        on_end: called first with the error (None on success), to stop clocks or mark the summary
            interrupted before `counts` reads it.
        describe_error: how a failure is written into `runs.error`.

    Yields the record; setting `record.status` (and `record.error`) inside the block records them
    instead of `succeeded` (maintenance ends `failed` when a table failed without raising). The error is
    re-raised after it is recorded.
    """
    record = RunRecord(lake, job=job, source=source, args=args, run_id=run_id).start()
    try:
        yield record
    except BaseException as error:  # the one place a run's failure or interruption is recorded
        if on_end:
            on_end(error)
        status = RunStatus.INTERRUPTED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
        record.finish(status=status, counts=counts(), error=describe_error(error))
        raise
    if on_end:
        on_end(None)
    record.finish(status=record.status, counts=counts(), error=record.error)

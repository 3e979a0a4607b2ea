"""The lake jobs' runs: `maintain` (compact and vacuum, recorded in `runs`) and `audit` (the named
questions, answered on one DuckDB connection; it writes nothing and records no run).

The orchestration layer of `etl.lake`: the one module here that records a run. `jobs/maintain.py`
and `jobs/audit.py` only parse arguments, call these and turn the outcome into an exit code.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import pyarrow as pa

from etl.config import MaintainConfig
from etl.lake.audit import Question, plan_questions
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake
from etl.lake.maintenance import (
    MaintainSummary,
    NothingToMaintain,
    Retention,
    TableResult,
    frames_retention,
    lake_tables,
    log_table_result,
    maintain_table,
    train_pins,
)
from etl.lake.query import connect, execute, load_query, query_title
from etl.lake.runs import recorded_run
from schemas import ALL_TABLES, FRAMES, RUNS, TableSpec
from schemas.vocabulary import RunStatus

__all__ = ["MaintainSummary", "Question", "plan_questions", "run_audit", "run_maintenance"]

log = logging.getLogger(f"facelake.{__name__}")


def run_maintenance(*, lake: Lake, config: MaintainConfig, run_id: str | None = None) -> MaintainSummary:
    """Maintain every table of the lake (or those the config names); recorded in `runs` unless a dry run.

    A table that fails (a conflicting writer, a table from a newer facelake) gets its error
    and the others are still maintained; the run then ends `failed`, its error naming each table.

    Args:
        lake: the lake to maintain.
        config: retention, target file size, force, dry run and the tables to maintain.
        run_id: the `runs` row's id (default: a new one).

    Returns:
        What was compacted and vacuumed per table (`run_id` None for a dry run).

    Raises:
        NothingToMaintain: the lake holds none of the tables asked for (a UsageError).
    """
    started = time.perf_counter()
    specs = lake_tables(lake, config.tables)
    if not specs:
        raise NothingToMaintain(
            f"the lake at {lake.root} holds none of the tables "
            f"{', '.join(config.tables or ALL_TABLES)}; pass the root that holds them"
        )
    summary = MaintainSummary(run_id=None, config=config)

    def stop_clock(error: BaseException | None) -> None:
        summary.elapsed_s = time.perf_counter() - started

    if config.dry_run:  # writes nothing, records nothing
        try:
            _maintain_tables(lake, specs, config, summary)
        finally:
            stop_clock(None)
        return summary
    lake.ensure(RUNS)
    with recorded_run(
        lake,
        job="maintain",
        source=lake.root,
        args={"config": asdict(config)},
        run_id=run_id,
        counts=summary.counts,
        on_end=stop_clock,
    ) as record:
        summary.run_id = record.run_id
        _maintain_tables(lake, specs, config, summary)
        if summary.failures:
            record.status = RunStatus.FAILED
            record.error = "; ".join(f"{t.table}: {t.error}" for t in summary.failures)
    refresh_catalog_if_local(lake)  # `runs` may be new
    return summary


def _maintain_tables(lake: Lake, specs: list[TableSpec], config: MaintainConfig, summary: MaintainSummary) -> None:
    """Each table in turn; a table's failure is recorded on its entry and the others go on."""
    plain = Retention(hours=config.retention_hours, reason="requested", enforce=not config.force)
    for number, spec in enumerate(specs, 1):
        retention = plain
        try:
            if spec.name == FRAMES.name:
                summary.pins = train_pins(lake)
                retention = frames_retention(config, summary.pins)
            result = maintain_table(lake, spec, config, retention)
        except Exception as error:  # noqa: BLE001 - recorded on the table's entry; the others go on
            log.error("%s: maintenance failed: %s: %s", spec.name, type(error).__name__, error)
            result = TableResult(table=spec.name, retention=retention, error=f"{type(error).__name__}: {error}")
        summary.tables.append(result)
        log_table_result(number, len(specs), result, config.dry_run)


def run_audit(lake: Lake, names: list[str], params: dict[str, dict] | None = None) -> list[tuple[str, str, pa.Table]]:
    """Answer the named queries over the lake's current versions, all on one DuckDB connection.

    Args:
        lake: the lake to read (nothing is written).
        names: the named queries (`queries/NAME.sql`), in the order wanted.
        params: per query name, its parameter values (a query not in it takes its defaults).

    Returns:
        (name, title, Arrow table) per query.

    Raises:
        duckdb.Error: a query failed (e.g. a parameter value it refuses).
    """
    params = params or {}
    connection = connect(lake)
    try:
        results = []
        for name in names:
            sql = load_query(name)
            results.append((name, query_title(sql), execute(connection, sql, params.get(name))))
        return results
    finally:
        connection.close()

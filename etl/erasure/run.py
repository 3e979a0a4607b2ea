"""The `forget` job's run: one person out of every table that holds them, and their bytes off the disk.

A person is a SiW subject (the `subject` number of `videos` and `frames`) or a registry
user (the `user` of `photos`). What holds them, per kind (`source` scopes the shared tables):

  subject: videos, frames (subject = N); embeddings of source frames (their video ids, or
           identity "NNN"); identity_pairs / identity_merges / label_checks of source frames
  user:    photos (user = NAME); embeddings of source photos (identity NAME, their photo ids);
           identity_pairs / identity_merges / label_checks of source photos

In the identity tables every row that names the person goes, also other people's rows:
a pair with them, every member row of a merge group they are in (the group loses its
meaning; the next `dedup` regroups the others), a label check whose nearest other face
or identity is theirs, and, when they were a group's canonical id, the other members'
label checks filed under their name. These tables are derived: `dedup` recomputes them.
In `runs`, rows of other jobs that name them (a failed video's id, a user in --where)
keep their row with those names replaced by "<erased>".

Each table is one Delta delete (`Lake.replace_where` with no rows). Its predicate
compares sha256 hashes (`encode(sha256(col), 'hex') IN (...)`), so the delete commit
in the Delta log records hashes, never the name; the price is that no file can be
skipped by its statistics (every file's predicate columns are read once). The rows
removed are counted before and checked after: none may be left, and the table must
have lost exactly those rows.

Then every table of the kind's scope, and `runs`, is vacuumed with retention 0: every
file the current version does not reference is deleted, so the bytes of the files that
held the person leave the disk. This deliberately gives up time travel on those tables:
reading any older version whose files held the person fails (FileNotFoundError, an
OSError); an older version whose files all survive reads fine and holds none of the
person's rows. The scope is vacuumed whole, not just the tables with current rows,
because older versions can hold the person where the current one no longer does (a
replaced dedup result, a stale vector). The frames versions train runs read are not
kept (unlike `facelake maintain`).

What stays, by design: `train_runs` keep their metrics (and lists of validation
subject numbers); models trained on frames that held the person are not retrained (the
erasure lists them). Source trees are never touched: delete the person's videos or
photos there, or the next ingest/register adds them again (the erasure counts those
still present). The Delta log's older commits are not rewritten: they keep the person's
ids (never images or vectors) in per-file min/max statistics (video_id, photo_id, user)
and in other jobs' write predicates (`photo_id IN (...)`, `face_key IN (...)`) until
the log before the erasure is dropped, which etl.lake.lake cannot do yet.

On an object store (`s3://`) the vacuum deletes the objects that held the person. A
bucket that keeps object versions (versioning, soft delete, object lock) keeps them as
noncurrent versions that no Delta reader sees but the store still holds: forget cannot
list or delete those, and says so in a warning; expire them with the store's lifecycle
rules (NoncurrentVersionExpiration) or delete them with its own tools.

Recorded in `runs` (job forget, arguments: kind and the hash) and in `erasures` (the
hash and the counts; see schemas/erasures.py).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from datetime import datetime, timezone

import pyarrow as pa

from etl.erasure.erase import erase_rows, erase_unlisted, models_trained_on, unfinished_erasures, vacuum_table
from etl.erasure.footprint import SCOPE, Footprint, find_footprint, plan_steps
from etl.erasure.redact import redacted_runs, redactor_for
from etl.erasure.request import ForgetRequest, check_lake
from etl.erasure.summary import ForgetSummary, TableOutcome
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake
from etl.lake.rows import in_predicate
from etl.lake.runs import recorded_run
from schemas import ERASURES, FRAMES, RUNS, TRAIN_RUNS, TableSpec
from schemas.vocabulary import ErasureKind, ErasureStatus

__all__ = ["ForgetSummary", "run_forget"]

log = logging.getLogger(f"facelake.{__name__}")


def run_forget(*, lake: Lake, request: ForgetRequest, run_id: str | None = None) -> ForgetSummary:
    """Erase the person from the lake (see the module docstring); a dry run only counts.

    Order: other jobs' `runs` rows redacted, then the derived tables, the vectors and the
    person's own tables last, then the vacuum. Rerunning after a failure or an interruption
    finishes the job: every step deletes what is left, and the vacuum runs even when nothing
    is left, if an earlier forget of the same person did not succeed. A person found
    nowhere changes no table; the request is still recorded (status nothing_found).

    Args:
        lake: the lake to erase from.
        request: who, and whether only to count (`dry_run`).
        run_id: the `runs` row's id (default: a new one).

    Returns:
        What was removed, redacted and vacuumed per table (`run_id` None for a dry run).

    Raises:
        ForgetRefused: the lake holds no facelake table (a UsageError).
        ErasureError: a delete did not remove exactly the person's rows (a DataError); the run is
            recorded as failed, and rerunning the same forget finishes the erasure.
    """
    started, requested_at = time.perf_counter(), datetime.now(timezone.utc)
    check_lake(lake)
    found = find_footprint(lake, request)
    present = sum(1 for path in found.source_files if os.path.exists(path))
    scope = [spec for spec in (*SCOPE[request.kind], RUNS) if lake.exists(spec)]
    outcomes = {spec.name: TableOutcome(table=spec.name, version_before=lake.version(spec)) for spec in scope}
    if request.dry_run:
        summary = ForgetSummary(request=request, run_id=None, erasure_id=None, source_files_present=present)
        summary = _dry_run(lake, request, found, outcomes, summary)
        summary.elapsed_s = time.perf_counter() - started
        return summary

    if not lake.is_local:
        log.warning(
            "%s is an object store: the vacuum deletes the objects that held %s, but a bucket that keeps "
            "object versions (versioning, soft delete) still holds them as noncurrent versions; expire "
            "those with a lifecycle rule",
            lake.root,
            request.label,
        )
    unfinished = unfinished_erasures(lake, request)
    lake.ensure(RUNS)
    if RUNS.name not in outcomes:
        outcomes[RUNS.name] = TableOutcome(table=RUNS.name)
        scope.append(RUNS)
    summary = ForgetSummary(
        request=request,
        run_id=None,  # the run's, once it is recorded
        source_files_present=present,
        erasure_id=f"erasure-{requested_at.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}",
        tables=list(outcomes.values()),
        finishing=unfinished,
    )

    def stop_clock(error: BaseException | None) -> None:
        if error is not None:  # on success the clock stopped before the erasure was recorded
            summary.elapsed_s = time.perf_counter() - started

    with recorded_run(
        lake,
        job="forget",
        source=lake.root,
        run_id=run_id,
        args={"kind": request.kind, "person_sha256": request.sha256, "dry_run": False},
        counts=summary.counts,
        on_end=stop_clock,
        describe_error=_describe_error,
    ) as record:
        summary.run_id = record.run_id
        _erase(lake, request, found, summary, outcomes, scope)
        summary.elapsed_s = time.perf_counter() - started
        lake.append(ERASURES, pa.Table.from_pylist([summary.erasure_row(requested_at)], schema=ERASURES.schema))
    refresh_catalog_if_local(lake)  # `erasures` may be new
    return summary


def _describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _dry_run(
    lake: Lake, request: ForgetRequest, found: Footprint, outcomes: dict[str, TableOutcome], summary: ForgetSummary
) -> ForgetSummary:
    for step in plan_steps(request, found):
        if step.spec.name in outcomes:
            outcomes[step.spec.name].rows_removed = step.count(lake.read(step.spec, columns=step.columns))
    if RUNS.name in outcomes:
        outcomes[RUNS.name].rows_redacted = redacted_runs(lake, redactor_for(request, found), skip_run_id=None).num_rows
    summary.tables = [o for o in outcomes.values() if o.rows_removed or o.rows_redacted]
    summary.models_not_retrained = models_trained_on(lake, request)
    return summary


def _erase(
    lake: Lake,
    request: ForgetRequest,
    found: Footprint,
    summary: ForgetSummary,
    outcomes: dict[str, TableOutcome],
    scope: list[TableSpec],
) -> None:
    """The erasure's writes, in order: runs redacted, rows deleted, history vacuumed (see `run_forget`)."""
    summary.models_not_retrained = models_trained_on(lake, request)
    redacted = redacted_runs(lake, redactor_for(request, found), skip_run_id=summary.run_id)
    if redacted.num_rows:
        lake.replace_where(RUNS, redacted, predicate=in_predicate("run_id", redacted.column("run_id").to_pylist()))
        outcomes[RUNS.name].rows_redacted = redacted.num_rows
        log.info("runs: the person's names replaced in %d rows of other jobs", redacted.num_rows)
    for step in plan_steps(request, found):
        if step.spec.name in outcomes:
            erase_rows(lake, step, outcomes[step.spec.name])
            if outcomes[step.spec.name].rows_removed:
                log.info("%s: %d rows removed", step.spec.name, outcomes[step.spec.name].rows_removed)
    if summary.finishing and summary.nothing_found:
        log.info("finishing the erasure of %s left unfinished by %s", request.label, ", ".join(summary.finishing))
    if summary.status == ErasureStatus.ERASED:
        if lake.exists(TRAIN_RUNS) and FRAMES in scope:
            log.warning(
                "frames history is vacuumed: train runs can no longer re-read the frames versions they "
                "read; their metrics stay and their models are not retrained"
            )
        for spec in scope:
            vacuum_table(lake, spec, outcomes[spec.name])
        for step in plan_steps(request, found):
            if step.spec.name in outcomes:
                erase_unlisted(lake, step, outcomes[step.spec.name])
            log.info("%s: vacuumed %d files no longer referenced", spec.name, outcomes[spec.name].files_vacuumed)
    for spec in scope:
        outcomes[spec.name].version_after = lake.version(spec)
    if summary.source_files_present:
        log.warning(
            "%d source files of %s are still in their source tree; delete them, or the next %s adds the person again",
            summary.source_files_present,
            request.label,
            "ingest" if request.kind == ErasureKind.SUBJECT else "register",
        )

"""The erasure's writes: each table's rows deleted and checked, the history vacuumed, and what it cannot undo."""

from __future__ import annotations

import json
import logging

from etl.erasure.footprint import TableStep
from etl.erasure.request import ForgetRequest
from etl.erasure.summary import TableOutcome
from etl.errors import DataError
from etl.lake.lake import Lake
from schemas import FRAMES, RUNS, TRAIN_RUNS, TableSpec
from schemas.vocabulary import ErasureKind, RunStatus

__all__ = ["ErasureError", "erase_rows", "erase_unlisted", "models_trained_on", "unfinished_erasures", "vacuum_table"]

log = logging.getLogger(f"facelake.{__name__}")


class ErasureError(DataError):
    """A delete did not remove exactly the person's rows (another writer, most likely)."""


def erase_rows(lake: Lake, step: TableStep, outcome: TableOutcome) -> None:
    """Delete the step's rows in one commit; check that exactly they went."""
    before = lake.read(step.spec, columns=step.columns)
    matched = step.count(before)
    if not matched:
        return
    lake.replace_where(step.spec, step.spec.schema.empty_table(), predicate=step.predicate())
    after = lake.read(step.spec, columns=step.columns)
    left, lost = step.count(after), before.num_rows - after.num_rows
    if left or lost != matched:
        raise ErasureError(
            f"{step.spec.name}: the delete left {left} of the person's {matched} rows and removed "
            f"{lost} rows in all; is another job writing the lake? Rerun forget when it is idle"
        )
    outcome.rows_removed = matched


def models_trained_on(lake: Lake, request: ForgetRequest) -> list[str]:
    """Train runs whose frames version held the subject, or can no longer be read to check."""
    if request.kind != ErasureKind.SUBJECT or not lake.exists(TRAIN_RUNS) or not lake.exists(FRAMES):
        return []
    out = []
    for row in lake.read(TRAIN_RUNS, columns=["train_id", "frames_version"]).to_pylist():
        if row["frames_version"] is None:
            continue
        try:
            held = (
                lake.read(
                    FRAMES,
                    columns=["subject"],
                    filters=[("subject", "=", request.subject)],
                    version=int(row["frames_version"]),
                ).num_rows
                > 0
            )
        except Exception as error:  # noqa: BLE001 - a version already vacuumed or out of the log: cannot tell
            log.warning(
                "train run %s: frames version %s cannot be read (%s); listed as possibly trained on %s",
                row["train_id"],
                row["frames_version"],
                type(error).__name__,
                request.label,
            )
            held = True
        if held:
            out.append(row["train_id"])
    return sorted(out)


def vacuum_table(lake: Lake, spec: TableSpec, outcome: TableOutcome) -> None:
    """Delete every file the table's current version does not reference, and purge its older log."""
    # removed files only: a retention of 0 must spare the files a running ingest wrote and has not committed yet
    result = lake.vacuum(spec, retention_hours=0, enforce=False, dry_run=False, unlisted=False)
    outcome.files_vacuumed, outcome.bytes_vacuumed = len(result.paths), result.bytes
    lake.purge_log(spec)  # older commits' statistics and predicates can still name the person


def erase_unlisted(lake: Lake, step: TableStep, outcome: TableOutcome) -> None:
    """Delete the files in the table's folder that no version lists (written by a job that died before committing
    them: no reader sees them, `maintain` deletes them in time) and that hold the person's rows: their bytes are
    on disk all the same. Other such files stay for `maintain`."""
    from etl.lake.files import can_stage, delete_data_file, read_data_file

    if not can_stage(lake):
        return
    for path in lake.unlisted_files(step.spec):
        if step.count(read_data_file(lake, step.spec, path, step.columns)):
            delete_data_file(lake, step.spec, path)
            outcome.files_vacuumed += 1
            log.info("%s: deleted %s, a file no commit listed that held the person's rows", step.spec.name, path)


def unfinished_erasures(lake: Lake, request: ForgetRequest) -> list[str]:
    """Run ids of earlier forgets of this person that did not succeed (their vacuum may not have run)."""
    if not lake.exists(RUNS):
        return []
    out = []
    for row in lake.read(RUNS, columns=["run_id", "job", "status", "args_json"]).to_pylist():
        if row["job"] != "forget" or row["status"] == RunStatus.SUCCEEDED:
            continue
        try:
            args = json.loads(row["args_json"] or "{}")
        except ValueError:
            continue
        if args.get("kind") == request.kind and args.get("person_sha256") == request.sha256:
            out.append(row["run_id"])
    return sorted(out)

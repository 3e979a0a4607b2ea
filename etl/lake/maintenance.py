"""Lake upkeep for `facelake maintain`: compact small files, vacuum old ones, never a train run's frames.

This module maintains one table at a time (`maintain_table`) and says how (`frames_retention`);
the job's run, which records it in `runs`, is `etl.lake.run.run_maintenance`.

Every append commits new files: an ingest of many small batches leaves a table of many
small Parquet files, slow to list and to read. Compaction rewrites each partition's small
files into few large ones (one commit; rows unchanged). The files it and every rewrite
(replace_where, delete) supersede stay on disk for time travel until vacuum deletes
those that no version younger than the retention needs.

A `train_runs` row records the `frames` version its model was trained on, so that the
training set can be read again. Vacuuming `frames` therefore keeps at least as far back
as the oldest such version (its age, rounded up, plus a margin of an hour for clock
differences), and passes those versions to delta-rs as versions to keep. `force` drops
both protections and delta-rs's own 7-day floor.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import pyarrow as pa

from etl.config import MaintainConfig
from etl.errors import UsageError
from etl.lake.lake import Lake
from schemas import ALL_TABLES, FRAMES, RUNS, TRAIN_RUNS, TableSpec

log = logging.getLogger(f"facelake.{__name__}")

RETENTION_MARGIN_HOURS = 1  # on top of a train run's version age: clocks of writers and this host differ
DEFAULT_TARGET_SIZE = 100 * 1024 * 1024  # delta-rs's compaction target without delta.targetFileSize


class NothingToMaintain(UsageError):
    """The lake holds none of the tables asked for (a wrong --lake, most likely)."""


@dataclass(frozen=True)
class TrainPin:
    """A frames version a train run read, with its commit time."""

    train_id: str
    version: int
    committed_at: datetime


@dataclass(frozen=True)
class Retention:
    """How one table is vacuumed, and why."""

    hours: int
    reason: str
    enforce: bool = True  # delta-rs's own 7-day floor
    keep_versions: tuple[int, ...] = ()


@dataclass
class TableResult:
    """What maintenance did to one table (or, with `error`, why it could not)."""

    table: str
    retention: Retention
    version_before: int | None = None
    version_after: int | None = None
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    files_compacted: int = 0  # small files compaction replaced
    files_written: int = 0  # the files it wrote instead
    partitions_compacted: int = 0
    files_to_compact: int | None = None  # dry run: small files compaction would take (estimate)
    vacuumed: list[str] = field(default_factory=list)  # relative paths; a dry run: what would go
    bytes_freed: int | None = 0
    error: str | None = None

    def counts(self) -> dict:
        out = asdict(self)
        out.pop("vacuumed")
        out["files_vacuumed"] = len(self.vacuumed)
        out["retention_hours"] = self.retention.hours
        out["retention_reason"] = self.retention.reason
        out["retention_enforced"] = self.retention.enforce
        out["kept_versions"] = list(self.retention.keep_versions)
        out.pop("retention")
        return out


@dataclass
class MaintainSummary:
    """What `run_maintenance` did (or a dry run would do), per table, for the log and `runs`."""

    run_id: str | None  # None for a dry run, which writes nothing
    config: MaintainConfig
    tables: list[TableResult] = field(default_factory=list)
    pins: list[TrainPin] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def failures(self) -> list[TableResult]:
        return [t for t in self.tables if t.error]

    def counts(self) -> dict:
        ok = [t for t in self.tables if not t.error]
        freed = [t.bytes_freed for t in ok]
        return {
            "dry_run": self.config.dry_run,
            "retention_hours_requested": self.config.retention_hours,
            "force": self.config.force,
            "tables_maintained": len(ok),
            "tables_failed": len(self.failures),
            "files_compacted": sum(t.files_compacted for t in ok),
            "files_written": sum(t.files_written for t in ok),
            "files_vacuumed": sum(len(t.vacuumed) for t in ok),
            "bytes_freed": None if any(b is None for b in freed) else sum(freed),
            "train_runs_protected": sorted({p.train_id for p in self.pins}),
            "tables": {t.table: t.counts() for t in self.tables},
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def table(self) -> pa.Table:
        """One row per table, for the log's summary table."""
        rows = []
        for t in self.tables:
            compacted = (
                f"~{t.files_to_compact} small"
                if t.files_to_compact is not None
                else f"{t.files_compacted} -> {t.files_written}"
            )
            rows.append(
                {
                    "table": t.table,
                    "files before": t.files_before,
                    "files after": t.files_after,
                    "compacted": compacted,
                    "would vacuum" if self.config.dry_run else "vacuumed": len(t.vacuumed),
                    "MB freed": None if t.bytes_freed is None else round(t.bytes_freed / 1e6, 2),
                    "retention h": t.retention.hours,
                    "note": t.error or (t.retention.reason if t.retention.reason != "requested" else ""),
                }
            )
        return pa.Table.from_pylist(rows)


def lake_tables(lake: Lake, names: tuple[str, ...] = ()) -> list[TableSpec]:
    """The specs of the tables the lake holds (all, or those named), `runs` last."""
    unknown = sorted(set(names) - set(ALL_TABLES))
    if unknown:
        raise UsageError(f"unknown tables {unknown}; known: {', '.join(ALL_TABLES)}")
    wanted = [spec for name, spec in ALL_TABLES.items() if not names or name in names]
    present = [spec for spec in wanted if lake.exists(spec)]
    for spec in wanted:
        if spec not in present and names:
            log.warning("table %s is not in the lake at %s; skipped", spec.name, lake.root)
    return sorted(present, key=lambda spec: spec.name == RUNS.name)


def train_pins(lake: Lake) -> list[TrainPin]:
    """The frames versions train runs read that the frames log still holds, with their commit times."""
    if not (lake.exists(TRAIN_RUNS) and lake.exists(FRAMES)):
        return []
    rows = [
        r
        for r in lake.read(TRAIN_RUNS, columns=["train_id", "frames_version"]).to_pylist()
        if r["frames_version"] is not None
    ]
    if not rows:
        return []
    times = lake.commit_times(FRAMES, since_version=min(r["frames_version"] for r in rows))
    pins = []
    for row in sorted(rows, key=lambda r: (r["frames_version"], r["train_id"])):
        version = int(row["frames_version"])
        if version in times:
            pins.append(TrainPin(train_id=row["train_id"], version=version, committed_at=times[version]))
        else:
            log.warning(
                "train run %s read frames version %d, which the frames log no longer holds (or never "
                "did): it cannot be read again and is not protected",
                row["train_id"],
                version,
            )
    return pins


def frames_retention(config: MaintainConfig, pins: list[TrainPin], *, now: datetime | None = None) -> Retention:
    """The frames table's retention: at least as old as the oldest train run's version, unless forced."""
    requested = config.retention_hours
    enforce = not config.force
    if not pins:
        return Retention(hours=requested, reason="requested", enforce=enforce)
    now = now or datetime.now(timezone.utc)
    oldest = min(pins, key=lambda p: (p.committed_at, p.version))
    age_h = max(0.0, (now - oldest.committed_at).total_seconds() / 3600)
    floor = math.ceil(age_h) + RETENTION_MARGIN_HOURS
    others = len({p.train_id for p in pins}) - 1
    who = f"train run {oldest.train_id}" + (f" (and {others} other train runs)" if others else "")
    if config.force:
        if requested < floor:
            log.warning(
                "--force: frames retention %d h is below the %d h that keep frames version %d readable; "
                "%s read that version %.1f h ago and may not be able to read it again",
                requested,
                floor,
                oldest.version,
                who,
                age_h,
            )
            return Retention(
                hours=requested,
                enforce=False,
                reason=f"forced below {floor} h: {who} read frames version {oldest.version}",
            )
        return Retention(hours=requested, reason="requested", enforce=False)
    keep = tuple(sorted({p.version for p in pins}))
    if requested < floor:
        log.warning(
            "frames retention raised from %d h to %d h: %s read frames version %d, committed %s "
            "(%.1f h ago); pass --force to vacuum it anyway",
            requested,
            floor,
            who,
            oldest.version,
            oldest.committed_at.isoformat(timespec="seconds"),
            age_h,
        )
        return Retention(
            hours=floor,
            keep_versions=keep,
            reason=f"raised from {requested} h: {who} read frames version {oldest.version}",
        )
    return Retention(hours=requested, keep_versions=keep, reason="requested")


def _small_files(stats: pa.Table, target: int) -> int:
    """Files below the target size in partitions holding at least two of them (what compaction takes)."""
    small = Counter(
        p
        for p, size in zip(stats.column("partition").to_pylist(), stats.column("size_bytes").to_pylist())
        if size < target
    )
    return sum(n for n in small.values() if n >= 2)


def maintain_table(lake: Lake, spec: TableSpec, config: MaintainConfig, retention: Retention) -> TableResult:
    """Compact (unless a dry run), then vacuum one table; what it did, file counts before and after."""
    result = TableResult(table=spec.name, retention=retention)
    before = lake.file_stats(spec)  # also refuses a table written by a newer facelake
    result.version_before = lake.version(spec)
    result.files_before = before.num_rows
    result.bytes_before = sum(before.column("size_bytes").to_pylist())
    if config.dry_run:
        result.files_to_compact = _small_files(before, config.target_size_bytes or DEFAULT_TARGET_SIZE)
    else:
        compacted = lake.compact(spec, target_size=config.target_size_bytes)
        result.files_compacted = compacted.files_removed
        result.files_written = compacted.files_added
        result.partitions_compacted = compacted.partitions_optimized
    vacuumed = lake.vacuum(
        spec,
        retention_hours=retention.hours,
        enforce=retention.enforce,
        dry_run=config.dry_run,
        keep_versions=list(retention.keep_versions),
    )
    result.vacuumed, result.bytes_freed = vacuumed.paths, vacuumed.bytes
    after = lake.file_stats(spec)
    result.version_after = lake.version(spec)
    result.files_after = after.num_rows
    result.bytes_after = sum(after.column("size_bytes").to_pylist())
    return result


def log_table_result(number: int, total: int, result: TableResult, dry_run: bool) -> None:
    """The progress line of one maintained table (`[n/total] table: ...`); nothing for a failed one."""
    if result.error:
        return
    freed = "" if result.bytes_freed is None or not result.vacuumed else f" ({result.bytes_freed / 1e6:.2f} MB)"
    if dry_run:
        log.info(
            "[%d/%d] %s: %d files; ~%d small files to compact; vacuum at %d h would delete %d files%s",
            number,
            total,
            result.table,
            result.files_before,
            result.files_to_compact or 0,
            result.retention.hours,
            len(result.vacuumed),
            freed,
        )
        return
    log.info(
        "[%d/%d] %s: %d -> %d files (%d compacted into %d); vacuum at %d h deleted %d files%s",
        number,
        total,
        result.table,
        result.files_before,
        result.files_after,
        result.files_compacted,
        result.files_written,
        result.retention.hours,
        len(result.vacuumed),
        freed,
    )

"""What an erasure did, table by table: the summary `run_forget` returns, its `runs` counts and `erasures` row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa

from etl.erasure.request import ForgetRequest
from schemas.vocabulary import ErasureStatus

__all__ = ["NOTE", "ForgetSummary", "TableOutcome"]

NOTE = (
    "train_runs keep their metrics; models trained on frames that held the person are not retrained "
    "(models_not_retrained). Time travel to versions up to version_before of every table listed is gone: "
    "reads fail (a file was vacuumed) or hold none of the person's rows. Source files are not touched: delete "
    "them, or the next ingest/register adds the person again (source_files_present). Older Delta log commits "
    "still name the person's ids (file statistics, other jobs' write predicates; no images, no vectors)."
)


@dataclass
class TableOutcome:
    """What the erasure did to one table."""

    table: str
    rows_removed: int = 0
    rows_redacted: int = 0
    files_vacuumed: int = 0
    bytes_vacuumed: int | None = 0
    version_before: int | None = None
    version_after: int | None = None


@dataclass
class ForgetSummary:
    """What `run_forget` did (or a dry run would do), for the log, `runs` and `erasures`."""

    request: ForgetRequest
    run_id: str | None  # None for a dry run, which writes nothing
    erasure_id: str | None
    tables: list[TableOutcome] = field(default_factory=list)
    models_not_retrained: list[str] = field(default_factory=list)
    source_files_present: int = 0
    finishing: list[str] = field(default_factory=list)  # earlier forgets of the person that did not succeed
    elapsed_s: float = 0.0

    @property
    def rows_removed(self) -> int:
        return sum(t.rows_removed for t in self.tables)

    @property
    def rows_redacted(self) -> int:
        return sum(t.rows_redacted for t in self.tables)

    @property
    def nothing_found(self) -> bool:
        return self.rows_removed == 0 and self.rows_redacted == 0

    @property
    def status(self) -> str:
        return ErasureStatus.NOTHING_FOUND if self.nothing_found and not self.finishing else ErasureStatus.ERASED

    def _bytes(self) -> int | None:
        sizes = [t.bytes_vacuumed for t in self.tables]
        return None if any(b is None for b in sizes) else sum(sizes)

    def counts(self) -> dict:
        return {
            "kind": self.request.kind,
            "person_sha256": self.request.sha256,
            "dry_run": self.request.dry_run,
            "status": self.status,
            "erasure_id": self.erasure_id,
            "rows_removed": self.rows_removed,
            "rows_redacted": self.rows_redacted,
            "files_vacuumed": sum(t.files_vacuumed for t in self.tables),
            "bytes_vacuumed": self._bytes(),
            "tables": {t.table: vars(t) for t in self.tables},
            "models_not_retrained": self.models_not_retrained,
            "source_files_present": self.source_files_present,
            "finishing": self.finishing,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def erasure_row(self, requested_at: datetime) -> dict:
        return {
            "erasure_id": self.erasure_id,
            "requested_at": requested_at,
            "completed_at": datetime.now(timezone.utc),
            "kind": self.request.kind,
            "person_sha256": self.request.sha256,
            "status": self.status,
            "rows_removed": self.rows_removed,
            "rows_redacted": self.rows_redacted,
            "files_vacuumed": sum(t.files_vacuumed for t in self.tables),
            "bytes_vacuumed": self._bytes(),
            "tables": [vars(t) for t in self.tables],
            "models_not_retrained": self.models_not_retrained,
            "source_files_present": self.source_files_present,
            "note": NOTE,
            "run_id": self.run_id,
        }

    def table(self) -> pa.Table:
        """One row per table, for the log's summary table."""
        removed = "would remove" if self.request.dry_run else "rows removed"
        return pa.Table.from_pylist(
            [
                {
                    "table": t.table,
                    removed: t.rows_removed,
                    "runs redacted": t.rows_redacted,
                    "files vacuumed": t.files_vacuumed,
                    "MB freed": None if t.bytes_vacuumed is None else round(t.bytes_vacuumed / 1e6, 3),
                    "version": "" if t.version_after is None else f"{t.version_before} -> {t.version_after}",
                }
                for t in self.tables
            ]
        )

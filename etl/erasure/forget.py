"""Erasure for `facelake forget`: one person out of every table that holds them, and their bytes off the disk.

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

import hashlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import reduce

import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import require
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake, in_predicate, sql_string
from etl.lake.runs import RunRecord
from schemas import (
    ALL_TABLES,
    EMBEDDINGS,
    ERASURES,
    FRAMES,
    IDENTITY_MERGES,
    IDENTITY_PAIRS,
    LABEL_CHECKS,
    PHOTOS,
    RUNS,
    TRAIN_RUNS,
    VIDEOS,
    TableSpec,
)
from schemas.erasures import ERASURE_KINDS

log = logging.getLogger(f"facelake.{__name__}")

ERASED = "<erased>"
MAX_SUBJECT = 2**31 - 1  # the subject column is int32
IDENTITY_TABLES = (IDENTITY_PAIRS, IDENTITY_MERGES, LABEL_CHECKS)
# every table a person of each kind can be in; all are vacuumed (with runs) by an erasure
SCOPE = {
    "subject": (VIDEOS, FRAMES, EMBEDDINGS, *IDENTITY_TABLES),
    "user": (PHOTOS, EMBEDDINGS, *IDENTITY_TABLES),
}
NOTE = (
    "train_runs keep their metrics; models trained on frames that held the person are not retrained "
    "(models_not_retrained). Time travel to versions up to version_before of every table listed is gone: "
    "reads fail (a file was vacuumed) or hold none of the person's rows. Source files are not touched: delete "
    "them, or the next ingest/register adds the person again (source_files_present). Older Delta log commits "
    "still name the person's ids (file statistics, other jobs' write predicates; no images, no vectors)."
)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ForgetRefused(ValueError):
    """The lake cannot be erased from as asked (no tables there)."""


class ErasureError(RuntimeError):
    """A delete did not remove exactly the person's rows (another writer, most likely)."""


@dataclass(frozen=True)
class ForgetRequest:
    """Who to forget: kind `subject` (a SiW subject number) or `user` (a registry user name).

    `person` is stored canonical: a subject as plain decimal ("7" for "007"), a user as
    given. Logs and records name the person only by `label` (kind and hash prefix).
    """

    kind: str
    person: str
    dry_run: bool = False

    def __post_init__(self) -> None:
        require(self.kind in ERASURE_KINDS, f"kind {self.kind!r} is not one of {', '.join(ERASURE_KINDS)}")
        require(isinstance(self.person, str), f"the person must be given as text, got {type(self.person).__name__}")
        if self.kind == "subject":
            text = self.person.strip()
            require(
                text.isascii() and text.isdigit(),
                f"--subject must be a SiW subject number such as 7 or 007, got {self.person!r}",
            )
            number = int(text)
            require(number <= MAX_SUBJECT, f"--subject must be at most {MAX_SUBJECT}, got {self.person!r}")
            object.__setattr__(self, "person", str(number))
        else:
            require(self.person != "", "--user is empty; pass the registry user name (its folder in the photo tree)")
            require(
                "/" not in self.person
                and self.person not in (".", "..")
                and not any(ord(c) < 32 or ord(c) == 127 for c in self.person),
                f"--user must be one folder name of the photo tree (no '/', no control characters), "
                f"got {self.person!r}",
            )

    @classmethod
    def from_options(cls, *, subject: str | None, user: str | None, dry_run: bool = False) -> ForgetRequest:
        require(
            (subject is None) != (user is None),
            "pass exactly one of --subject ID or --user NAME, got " + ("both" if subject is not None else "neither"),
        )
        if subject is not None:
            return cls(kind="subject", person=subject, dry_run=dry_run)
        return cls(kind="user", person=user, dry_run=dry_run)

    @property
    def sha256(self) -> str:
        return sha256_hex(self.person)

    @property
    def label(self) -> str:
        return f"{self.kind} sha256:{self.sha256[:12]}"

    @property
    def source(self) -> str:
        """The `source` value of the embeddings and identity rows of this kind of person."""
        return "frames" if self.kind == "subject" else "photos"

    @property
    def subject(self) -> int:
        return int(self.person)


def check_lake(lake: Lake) -> None:
    """Refuse a lake holding no facelake table, before any work."""
    if not any(lake.exists(spec) for spec in ALL_TABLES.values()):
        raise ForgetRefused(
            f"the lake at {lake.root} holds none of the tables {', '.join(ALL_TABLES)}; pass the root that holds them"
        )


# ------------------------------------------------------------------ what matches the person


@dataclass(frozen=True)
class Match:
    """`column` holds one of `values`: as a delta-rs predicate over sha256 hashes, and as a pyarrow mask.

    form: text (the column itself) | number (an integer column as its decimal text) |
    video_key (a frames face key "<video_id>#<frame>": the part before the first '#').
    """

    column: str
    values: frozenset[str]
    form: str = "text"

    def sql(self) -> str:
        quoted = f'"{self.column}"'
        expression = {
            "text": quoted,
            "number": f"CAST({quoted} AS VARCHAR)",
            "video_key": f"split_part({quoted}, '#', 1)",
        }[self.form]
        return in_predicate(f"encode(sha256({expression}), 'hex')", (sha256_hex(v) for v in self.values))

    def mask(self, table: pa.Table) -> pa.ChunkedArray:
        column = table.column(self.column)
        if self.form == "number":
            column = pc.cast(column, pa.string())
        elif self.form == "video_key":
            column = pc.list_element(pc.split_pattern(column, "#", max_splits=1), 0)
        return pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(self.values), pa.string())), False)


@dataclass(frozen=True)
class TableStep:
    """The rows of one table that are the person's: any of `matches`, within `source` when given."""

    spec: TableSpec
    matches: tuple[Match, ...]
    source: str | None = None

    @property
    def columns(self) -> list[str]:
        return sorted({m.column for m in self.matches} | ({"source"} if self.source else set()))

    def predicate(self) -> str:
        either = " OR ".join(m.sql() for m in self.matches)
        if self.source is None:
            return either
        return f'"source" = {sql_string(self.source)} AND ({either})'

    def mask(self, table: pa.Table) -> pa.ChunkedArray:
        either = reduce(pc.or_, (m.mask(table) for m in self.matches))
        if self.source is not None:
            either = pc.and_(pc.fill_null(pc.equal(table.column("source"), self.source), False), either)
        return either

    def count(self, table: pa.Table) -> int:
        return int(pc.sum(pc.cast(self.mask(table), pa.int64())).as_py() or 0) if table.num_rows else 0


@dataclass
class Footprint:
    """The keys through which the person appears in the lake's current versions."""

    video_ids: set[str] = field(default_factory=set)
    photo_ids: set[str] = field(default_factory=set)
    identities: set[str] = field(default_factory=set)  # embeddings/identity-table names of the person
    groups: set[str] = field(default_factory=set)  # identity_merges groups they are in
    source_files: list[str] = field(default_factory=list)  # their source files (local paths)


def frames_identity(subject: int) -> str:
    """The identity `facelake embed` gives a subject's frame faces (lpad to 3 digits, see etl/embed/plan.py)."""
    return str(subject).zfill(3)


def _values(table: pa.Table, column: str) -> set[str]:
    return {v for v in table.column(column).to_pylist() if v is not None}


def _where_in(table: pa.Table, column: str, values: set[str]) -> pa.Table:
    """Rows whose `column` is one of `values`, filtered here: a `Lake.read` filter on a string column
    fails on files a delta-rs delete rewrote (string_view columns)."""
    if not values or not table.num_rows:
        return table.slice(0, 0)
    value_set = pa.array(sorted(values), pa.string())
    return table.filter(pc.fill_null(pc.is_in(table.column(column), value_set=value_set), False))


def _source_paths(table: pa.Table) -> list[str]:
    return sorted(
        {os.path.join(r["source_root"], r["path"]) for r in table.to_pylist() if r["source_root"] and r["path"]}
    )


def find_footprint(lake: Lake, request: ForgetRequest) -> Footprint:
    """Read (never write) the person's video ids or photo ids, identity names and merge groups."""
    found = Footprint()
    vectors = _where_in(
        lake.read(EMBEDDINGS, columns=["source", "video_id", "photo_id", "identity"]), "source", {request.source}
    )
    if request.kind == "subject":
        videos = lake.read(
            VIDEOS, columns=["video_id", "source_root", "path"], filters=[("subject", "=", request.subject)]
        )
        frames = lake.read(FRAMES, columns=["video_id"], filters=[("subject", "=", request.subject)])
        found.video_ids = _values(videos, "video_id") | _values(frames, "video_id")
        found.source_files = _source_paths(videos)
        found.identities = {frames_identity(request.subject)} | _values(
            _where_in(vectors, "video_id", found.video_ids), "identity"
        )
    else:
        photos = _where_in(
            lake.read(PHOTOS, columns=["user", "photo_id", "source_root", "path"]), "user", {request.person}
        )
        found.photo_ids = _values(photos, "photo_id")
        found.source_files = _source_paths(photos)
        found.identities = {request.person} | _values(_where_in(vectors, "photo_id", found.photo_ids), "identity")
    merges = _where_in(
        lake.read(IDENTITY_MERGES, columns=["source", "group_id", "identity", "canonical_id"]),
        "source",
        {request.source},
    )
    found.groups = _values(_where_in(merges, "identity", found.identities), "group_id") | _values(
        _where_in(merges, "canonical_id", found.identities), "group_id"
    )
    return found


def _match(column: str, values: set[str], form: str = "text") -> list[Match]:
    return [Match(column, frozenset(values), form)] if values else []


def plan_steps(request: ForgetRequest, found: Footprint) -> list[TableStep]:
    """One step per table that can hold the person, derived tables first and the person's own
    table last: a rerun after a failure finds the whole footprint again in what is left."""
    names, groups, source = found.identities, found.groups, request.source
    if request.kind == "subject":
        person = (Match("subject", frozenset({request.person}), "number"),)
        vectors = _match("video_id", found.video_ids) + _match("identity", names)
        faces = _match("face_key", found.video_ids, "video_key") + _match(
            "nearest_other_key", found.video_ids, "video_key"
        )
        own = [TableStep(FRAMES, person), TableStep(VIDEOS, person)]
    else:
        vectors = _match("identity", names) + _match("photo_id", found.photo_ids) + _match("face_key", found.photo_ids)
        faces = _match("face_key", found.photo_ids) + _match("nearest_other_key", found.photo_ids)
        own = [TableStep(PHOTOS, (Match("user", frozenset({request.person})),))]
    steps = [
        TableStep(IDENTITY_PAIRS, tuple(_match("first", names) + _match("second", names)), source),
        TableStep(
            IDENTITY_MERGES,
            tuple(_match("group_id", groups) + _match("identity", names) + _match("canonical_id", names)),
            source,
        ),
        TableStep(
            LABEL_CHECKS, tuple(_match("identity", names) + _match("nearest_other_identity", names) + faces), source
        ),
        TableStep(EMBEDDINGS, tuple(vectors), source),
        *own,
    ]
    return [step for step in steps if step.matches]


# ------------------------------------------------------------------ runs: names in other jobs' rows


class Redactor:
    """Replaces the person's names in text: `tokens` wherever they stand as a whole word (a path
    segment, a file stem, a SQL literal), `exact` only as a whole JSON string value (short ids
    such as "007" would otherwise hit unrelated numbers)."""

    def __init__(self, *, tokens: set[str], exact: set[str]) -> None:
        ordered = sorted({t for t in tokens if t}, key=lambda t: (-len(t), t))  # longest first: a photo id whole
        self.pattern = re.compile("|".join(rf"(?<!\w){re.escape(t)}(?!\w)" for t in ordered)) if ordered else None
        self.exact = set(exact) | set(ordered)

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        if value in self.exact:
            return ERASED
        return self.pattern.sub(ERASED, value) if self.pattern else value

    def _walk(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self._walk(v) for k, v in value.items()}
        return value

    def json_text(self, value: str | None) -> str | None:
        """A JSON document with its strings (keys too) redacted; plain text when it is not JSON."""
        if value is None:
            return None
        try:
            document = json.loads(value)
        except ValueError:
            return self.text(value)
        redacted = self._walk(document)
        return value if redacted == document else json.dumps(redacted, sort_keys=True, default=str)


def redactor_for(request: ForgetRequest, found: Footprint) -> Redactor:
    if request.kind == "subject":
        stems = {v.rsplit("/", 1)[-1] for v in found.video_ids}
        return Redactor(tokens=found.video_ids | stems, exact=found.identities)
    return Redactor(tokens={request.person} | found.photo_ids | found.identities, exact=set())


def redacted_runs(lake: Lake, redactor: Redactor, *, skip_run_id: str | None) -> pa.Table:
    """The `runs` rows (other than `skip_run_id`) that name the person, with those names replaced."""
    if not lake.exists(RUNS):
        return RUNS.schema.empty_table()
    changed = []
    for row in lake.read(RUNS).to_pylist():
        if row["run_id"] == skip_run_id:
            continue
        new = dict(
            row,
            source=redactor.text(row["source"]),
            error=redactor.text(row["error"]),
            args_json=redactor.json_text(row["args_json"]),
            counts_json=redactor.json_text(row["counts_json"]),
        )
        if new != row:
            changed.append(new)
    return pa.Table.from_pylist(changed, schema=RUNS.schema)


# ------------------------------------------------------------------ the erasure


@dataclass
class TableOutcome:
    table: str
    rows_removed: int = 0
    rows_redacted: int = 0
    files_vacuumed: int = 0
    bytes_vacuumed: int | None = 0
    version_before: int | None = None
    version_after: int | None = None


@dataclass
class ForgetSummary:
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
        return "nothing_found" if self.nothing_found and not self.finishing else "erased"

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
    if request.kind != "subject" or not lake.exists(TRAIN_RUNS) or not lake.exists(FRAMES):
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


def _vacuum(lake: Lake, spec: TableSpec, outcome: TableOutcome) -> None:
    # removed files only: a retention of 0 must spare the files a running ingest wrote and has not committed yet
    result = lake.vacuum(spec, retention_hours=0, enforce=False, dry_run=False, unlisted=False)
    outcome.files_vacuumed, outcome.bytes_vacuumed = len(result.paths), result.bytes
    lake.purge_log(spec)  # older commits' statistics and predicates can still name the person


def _erase_unlisted(lake: Lake, step: TableStep, outcome: TableOutcome) -> None:
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
        if row["job"] != "forget" or row["status"] == "succeeded":
            continue
        try:
            args = json.loads(row["args_json"] or "{}")
        except ValueError:
            continue
        if args.get("kind") == request.kind and args.get("person_sha256") == request.sha256:
            out.append(row["run_id"])
    return sorted(out)


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


def run_forget(*, lake: Lake, request: ForgetRequest, run_id: str | None = None) -> ForgetSummary:
    """Erase the person from the lake (see the module docstring); a dry run only counts.

    Order: other jobs' `runs` rows redacted, then the derived tables, the vectors and the
    person's own tables last, then the vacuum. Rerunning after a failure or an interruption
    finishes the job: every step deletes what is left, and the vacuum runs even when nothing
    is left, if an earlier forget of the same person did not succeed. A person found
    nowhere changes no table; the request is still recorded (status nothing_found).
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
    record = RunRecord(
        lake,
        job="forget",
        source=lake.root,
        run_id=run_id,
        args={"kind": request.kind, "person_sha256": request.sha256, "dry_run": False},
    )
    lake.ensure(RUNS)
    record.start()
    if RUNS.name not in outcomes:
        outcomes[RUNS.name] = TableOutcome(table=RUNS.name)
        scope.append(RUNS)
    summary = ForgetSummary(
        request=request,
        run_id=record.run_id,
        source_files_present=present,
        erasure_id=f"erasure-{requested_at.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}",
        tables=list(outcomes.values()),
        finishing=unfinished,
    )
    try:
        summary.models_not_retrained = models_trained_on(lake, request)
        redacted = redacted_runs(lake, redactor_for(request, found), skip_run_id=record.run_id)
        if redacted.num_rows:
            lake.replace_where(RUNS, redacted, predicate=in_predicate("run_id", redacted.column("run_id").to_pylist()))
            outcomes[RUNS.name].rows_redacted = redacted.num_rows
            log.info("runs: the person's names replaced in %d rows of other jobs", redacted.num_rows)
        for step in plan_steps(request, found):
            if step.spec.name in outcomes:
                erase_rows(lake, step, outcomes[step.spec.name])
                if outcomes[step.spec.name].rows_removed:
                    log.info("%s: %d rows removed", step.spec.name, outcomes[step.spec.name].rows_removed)
        if unfinished and summary.nothing_found:
            log.info("finishing the erasure of %s left unfinished by %s", request.label, ", ".join(unfinished))
        if summary.status == "erased":
            if lake.exists(TRAIN_RUNS) and FRAMES in scope:
                log.warning(
                    "frames history is vacuumed: train runs can no longer re-read the frames versions they "
                    "read; their metrics stay and their models are not retrained"
                )
            for spec in scope:
                _vacuum(lake, spec, outcomes[spec.name])
            for step in plan_steps(request, found):
                if step.spec.name in outcomes:
                    _erase_unlisted(lake, step, outcomes[step.spec.name])
                log.info("%s: vacuumed %d files no longer referenced", spec.name, outcomes[spec.name].files_vacuumed)
        for spec in scope:
            outcomes[spec.name].version_after = lake.version(spec)
        if present:
            log.warning(
                "%d source files of %s are still in their source tree; delete them, or the next %s adds "
                "the person again",
                present,
                request.label,
                "ingest" if request.kind == "subject" else "register",
            )
        summary.elapsed_s = time.perf_counter() - started
        lake.append(ERASURES, pa.Table.from_pylist([summary.erasure_row(requested_at)], schema=ERASURES.schema))
    except BaseException as error:
        summary.elapsed_s = time.perf_counter() - started
        record.finish(
            status="interrupted" if isinstance(error, KeyboardInterrupt) else "failed",
            counts=summary.counts(),
            error=f"{type(error).__name__}: {error}",
        )
        raise
    record.finish(status="succeeded", counts=summary.counts())
    refresh_catalog_if_local(lake)  # `erasures` may be new
    return summary

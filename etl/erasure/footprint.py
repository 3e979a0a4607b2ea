"""Where a person is in the lake: their keys (`Footprint`), and per table the rows that are theirs (`TableStep`).

Reading only: `find_footprint` collects the person's video or photo ids, identity names and merge
groups from the current versions; `plan_steps` turns them into one delete predicate per table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import reduce

import pyarrow as pa
import pyarrow.compute as pc

from etl.erasure.request import ForgetRequest, sha256_hex
from etl.lake.lake import Lake
from etl.lake.rows import in_predicate, sql_string
from schemas import (
    EMBEDDINGS,
    FRAMES,
    IDENTITY_MERGES,
    IDENTITY_PAIRS,
    LABEL_CHECKS,
    PHOTOS,
    SCORES,
    VIDEOS,
    TableSpec,
)
from schemas.vocabulary import ErasureKind

__all__ = [
    "IDENTITY_TABLES",
    "SCOPE",
    "Footprint",
    "Match",
    "TableStep",
    "find_footprint",
    "frames_identity",
    "plan_steps",
]

IDENTITY_TABLES = (IDENTITY_PAIRS, IDENTITY_MERGES, LABEL_CHECKS)
# every table a person of each kind can be in; all are vacuumed (with runs) by an erasure
SCOPE = {
    ErasureKind.SUBJECT: (VIDEOS, FRAMES, EMBEDDINGS, SCORES, *IDENTITY_TABLES),
    ErasureKind.USER: (PHOTOS, EMBEDDINGS, *IDENTITY_TABLES),
}


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
    if request.kind == ErasureKind.SUBJECT:
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
    if request.kind == ErasureKind.SUBJECT:
        person = (Match("subject", frozenset({request.person}), "number"),)
        vectors = _match("video_id", found.video_ids) + _match("identity", names)
        faces = _match("face_key", found.video_ids, "video_key") + _match(
            "nearest_other_key", found.video_ids, "video_key"
        )
        # a model's scores of the subject's faces (`facelake score`) name their videos and subject
        scores = [TableStep(SCORES, (*person, *_match("video_id", found.video_ids)))]
        own = [*scores, TableStep(FRAMES, person), TableStep(VIDEOS, person)]
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

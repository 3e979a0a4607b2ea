"""Identity cleaning <-> the lake: face vectors in; pairs, merges and label checks out.

Source rows are never rewritten: merges live in `identity_merges` and readers resolve
an identity through its active rows. A group a person marked `undone` stays undone when
a later dedup finds exactly the same members again.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import require
from etl.identity.search import FaceVectors, IdentityPair, LabelCheck
from etl.lake.lake import Lake
from etl.lake.rows import sql_string
from schemas import EMBEDDINGS, IDENTITY_MERGES, IDENTITY_PAIRS, LABEL_CHECKS


def embedding_models(lake: Lake, source: str) -> list[str]:
    table = lake.read(EMBEDDINGS, columns=["source", "model"])
    table = table.filter(pc.equal(table.column("source"), source))
    return sorted(set(table.column("model").to_pylist()))


def load_face_vectors(
    lake: Lake, *, source: str, model: str, split: str | None = None, labels: tuple[str, ...] | None = None
) -> FaceVectors:
    """Every vector of one model and source (optionally one split, some frame labels), in face_key order."""
    filters = [("source", "=", source), ("model", "=", model)] + ([("split", "=", split)] if split else [])
    table = lake.read(EMBEDDINGS, columns=["face_key", "identity", "label", "dim", "vector"], filters=filters)
    if labels is not None:
        table = table.filter(pc.is_in(table.column("label"), pa.array(list(labels), pa.string())))
    table = table.sort_by("face_key")
    dims = set(table.column("dim").to_pylist())
    if len(dims) > 1:
        raise ValueError(f"model {model!r} has vectors of several lengths {sorted(dims)} in the lake")
    dim = dims.pop() if dims else 1
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    vectors = np.ascontiguousarray(flat.reshape(table.num_rows, dim), dtype=np.float32)
    return FaceVectors(
        keys=table.column("face_key").to_pylist(), identities=table.column("identity").to_pylist(), vectors=vectors
    )


def _settings(source: str, model: str, linkage: str, threshold: float, n: int) -> dict:
    return {"source": [source] * n, "model": [model] * n, "linkage": [linkage] * n, "threshold": [threshold] * n}


def _scope(source: str, model: str) -> str:
    return f"source = {sql_string(source)} AND model = {sql_string(model)}"


def write_pairs(
    lake: Lake,
    pairs: list[IdentityPair],
    *,
    kind: str,
    source: str,
    model: str,
    linkage: str,
    threshold: float,
    run_id: str,
    decisions: dict[tuple[str, str], str] | None = None,
    lone_faces: dict[tuple[str, str], tuple[str, ...]] | None = None,
) -> pa.Table:
    """Replace the (source, model, kind) set of `identity_pairs` with `pairs`.

    `decisions` / `lone_faces` by (first, second): what dedup did with each duplicate pair and
    the lone faces a review candidate rests on (None: leakage pairs, which nothing merges).
    """
    now = datetime.now(timezone.utc)
    data = _settings(source, model, linkage, threshold, len(pairs))
    data.update(
        kind=[kind] * len(pairs),
        first=[p.first for p in pairs],
        second=[p.second for p in pairs],
        max_similarity=[p.max_similarity for p in pairs],
        centroid_similarity=[p.centroid_similarity for p in pairs],
        pairs_above=[p.pairs_above for p in pairs],
        face_pairs=[p.face_pairs for p in pairs],
        example_pairs=[
            [{"first_key": a, "second_key": b, "similarity": s} for a, b, s in p.example_pairs] for p in pairs
        ],
        linked=[p.linked for p in pairs],
        run_id=[run_id] * len(pairs),
        created_at=[now] * len(pairs),
        decision=[None if decisions is None else decisions[(p.first, p.second)] for p in pairs],
        lone_faces=[None if lone_faces is None else list(lone_faces.get((p.first, p.second), ())) for p in pairs],
    )
    table = pa.table(data, schema=IDENTITY_PAIRS.schema)
    lake.replace_where(IDENTITY_PAIRS, table, predicate=f"{_scope(source, model)} AND kind = {sql_string(kind)}")
    return table


def _scoped(table: pa.Table, source: str, model: str) -> pa.Table:
    if table.num_rows == 0:
        return table
    return table.filter(pc.and_(pc.equal(table.column("source"), source), pc.equal(table.column("model"), model)))


def write_merges(
    lake: Lake, canonical: dict[str, str], *, source: str, model: str, linkage: str, threshold: float, run_id: str
) -> pa.Table:
    """Replace this (source, model)'s merge groups; groups marked undone before stay undone,
    also when this run no longer finds them (they are a person's decision)."""
    previous = _scoped(lake.read(IDENTITY_MERGES), source, model)
    undone_rows = previous.filter(pc.equal(previous.column("state"), "undone")) if previous.num_rows else previous
    undone: dict[str, set[str]] = {}
    for r in undone_rows.select(["group_id", "identity"]).to_pylist():
        undone.setdefault(r["group_id"], set()).add(r["identity"])
    members: dict[str, list[str]] = {}
    for identity, canon in canonical.items():
        members.setdefault(canon, []).append(identity)
    found = {frozenset(g) for g in members.values()}
    rows = []
    now = datetime.now(timezone.utc)
    for canon, group in sorted(members.items()):
        state = "undone" if set(group) in undone.values() else "active"
        for identity in sorted(group):
            rows.append(
                {
                    "source": source,
                    "model": model,
                    "linkage": linkage,
                    "threshold": threshold,
                    "group_id": f"{source}:{canon}",
                    "identity": identity,
                    "canonical_id": canon,
                    "group_size": len(group),
                    "state": state,
                    "run_id": run_id,
                    "decided_at": now,
                }
            )
    table = pa.Table.from_pylist(rows, schema=IDENTITY_MERGES.schema)
    lost = sorted(gid for gid, group in undone.items() if frozenset(group) not in found)
    if lost:
        table = pa.concat_tables([table, undone_rows.filter(pc.is_in(undone_rows.column("group_id"), pa.array(lost)))])
    lake.replace_where(IDENTITY_MERGES, table, predicate=_scope(source, model))
    return table


def set_group_state(lake: Lake, *, identity: str, state: str, source: str, model: str) -> pa.Table:
    """Mark the merge group holding `identity` undone or active again; returns its rows.

    Raises:
        UsageError: `identity` is in no merge group of `source` and `model`.
    """
    scoped = _scoped(lake.read(IDENTITY_MERGES), source, model)
    hits = set(scoped.filter(pc.equal(scoped.column("identity"), identity)).column("group_id").to_pylist())
    require(bool(hits), f"{identity!r} is in no merge group of source {source!r}, model {model!r}")
    group = scoped.filter(pc.is_in(scoped.column("group_id"), pa.array(sorted(hits))))
    group = group.set_column(
        group.schema.get_field_index("state"), "state", pa.array([state] * group.num_rows, pa.string())
    )
    group = group.set_column(
        group.schema.get_field_index("decided_at"),
        "decided_at",
        pa.array([datetime.now(timezone.utc)] * group.num_rows, pa.timestamp("us", tz="UTC")),
    )
    group_ids = " OR ".join(f"group_id = {sql_string(g)}" for g in sorted(hits))
    lake.replace_where(IDENTITY_MERGES, group, predicate=f"{_scope(source, model)} AND ({group_ids})")
    return group


def active_canonical(lake: Lake, *, source: str, model: str) -> dict[str, str]:
    rows = _scoped(lake.read(IDENTITY_MERGES), source, model)
    return {
        r["identity"]: r["canonical_id"]
        for r in rows.select(["identity", "canonical_id", "state"]).to_pylist()
        if r["state"] == "active"
    }


def write_label_checks(
    lake: Lake, checks: list[LabelCheck], *, source: str, model: str, linkage: str, threshold: float, run_id: str
) -> pa.Table:
    data = _settings(source, model, linkage, threshold, len(checks))
    data.update(
        face_key=[c.key for c in checks],
        identity=[c.identity for c in checks],
        min_positive=[c.min_positive for c in checks],
        max_negative=[c.max_negative for c in checks],
        nearest_other_identity=[c.nearest_other_identity for c in checks],
        nearest_other_key=[c.nearest_other_key for c in checks],
        suspect=[c.suspect for c in checks],
        face_suspect=[c.face_suspect for c in checks],
        own_centroid_similarity=[c.own_centroid_similarity for c in checks],
        other_centroid_similarity=[c.other_centroid_similarity for c in checks],
        nearest_other_centroid=[c.nearest_other_centroid for c in checks],
        suspect_score=[c.suspect_score for c in checks],
        run_id=[run_id] * len(checks),
    )
    table = pa.table(data, schema=LABEL_CHECKS.schema)
    lake.replace_where(LABEL_CHECKS, table, predicate=_scope(source, model))
    return table

"""`run_dedup`: the orchestration of `facelake dedup` (the layer that records runs).

The layer rule: `jobs/dedup.py` only parses arguments, builds `DedupConfig` and calls `run_dedup`
(or `set_merge_state` for an undo / restore); this module alone records the run (`recorded_run`)
and writes the identity tables through `etl.identity.store`; the modules below it (`search`,
`link_support`, `thresholds`) transform data and never start a job.

FAISS searches every identity's face vectors (exact inner product by default); pairs of
identities above the threshold are kept with their evidence in `identity_pairs`, linked pairs
are merged by union-find into groups in `identity_merges` (source rows are never rewritten),
every face is label-checked into `label_checks`, and with `leakage` test-split identities close
to a training identity are reported.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

from etl.errors import require
from etl.identity.centroid_check import LABEL_MARGIN
from etl.identity.link_support import link_supports
from etl.identity.search import (
    FaceVectors,
    SearchConfig,
    cross_identity_pairs,
    identity_pairs,
    label_checks,
    merge_groups,
)
from etl.identity.store import (
    active_canonical,
    embedding_models,
    load_face_vectors,
    set_group_state,
    write_label_checks,
    write_merges,
    write_pairs,
)
from etl.identity.thresholds import default_threshold
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake
from etl.lake.runs import new_run_id, recorded_run
from schemas import IDENTITY_MERGES, IDENTITY_PAIRS, LABEL_CHECKS, RUNS
from schemas.vocabulary import EmbeddingSource, IndexKind, Label, Linkage, PairDecision, values

__all__ = ["MODEL_ALIASES", "DedupConfig", "DedupSummary", "resolve_model", "run_dedup", "set_merge_state"]

log = logging.getLogger(f"facelake.{__name__}")

MODEL_ALIASES = {"dlib": "dlib_resnet_v1"}


@dataclass(frozen=True)
class DedupConfig:
    """The settings of one `facelake dedup`, as `run_dedup` takes them (`run_dedup(lake=..., **asdict(config))`).

    Nothing is checked here: `run_dedup` checks the settings a run uses, in the order the job always
    has (an undo or restore uses only `source` and `model`).
    """

    source: EmbeddingSource = EmbeddingSource.PHOTOS
    model: str | None = None
    linkage: Linkage = Linkage.MAX
    threshold: float | None = None
    min_pairs: int = 1
    # precision first: a link through one face of an identity with others is a review candidate
    # (a misfiled photo merges two people; a missed duplicate is only untidy); 1: the notes' rule
    min_faces: int = 2
    label_margin: float = LABEL_MARGIN
    index: IndexKind = IndexKind.FLAT
    nprobe: int = 16
    leakage: bool = False
    frame_labels: tuple[str, ...] = (Label.LIVE,)


@dataclass
class DedupSummary:
    """What one `run_dedup` found; `lines()` is the job's summary."""

    run_id: str
    source: str = ""
    model: str = ""
    linkage: str = ""
    threshold: float = 0.0
    faces: int = 0
    identities: int = 0
    candidate_pairs: int = 0
    linked_pairs: int = 0
    merge_groups: int = 0
    identities_merged: int = 0
    undone_groups: int = 0
    suspect_faces: int = 0
    review_links: int = 0
    # (first, second, lone face keys, merged anyway): links through a single face of an identity
    single_face_links: list[tuple[str, str, str, bool]] = field(default_factory=list)
    leakage_pairs: int | None = None
    linked: list[tuple[str, str, float]] = field(default_factory=list)
    leaks: list[tuple[str, str, float, float]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        # the notes' report form first: one line per merged pair
        left = self.identities - self.identities_merged + self.merge_groups - self.undone_groups
        out = [f"First: {a}, Second: {b}, Max dist: {s:.4f}" for a, b, s in self.linked]
        out += [
            f"run {self.run_id}: {self.source} faces, model {self.model}, {self.linkage} linkage, "
            f"threshold {self.threshold:g}",
            f"{self.faces} faces of {self.identities} identities; {self.candidate_pairs} candidate pairs, "
            f"{self.linked_pairs} linked, {self.review_links} for review; {self.merge_groups} merge groups "
            f"({self.identities_merged} identities, {self.undone_groups} groups kept undone)",
            f"Total: {self.identities}, Total left: {left}",
            f"label check: {self.suspect_faces} suspect faces (nearer another identity's centroid than their own's)",
        ]
        out += [
            f"CHECK {a} ~ {b} rests on a single face ({keys}): a photo under the wrong user, or one good photo of a "
            f"duplicate? " + ("Merged (min_faces 1)." if merged else "Not merged: a review candidate.")
            for a, b, keys, merged in self.single_face_links
        ]
        if self.leakage_pairs is not None:
            out.append(f"leakage: {self.leakage_pairs} test identities close to a training identity under another id")
            out += [f"LEAK test {t} ~ train {r}: max {m:.4f}, centroid {c:.4f}" for t, r, m, c in self.leaks]
        out.append(f"elapsed {self.elapsed_s:.1f} s")
        return out


def resolve_model(lake: Lake, source: str, model: str | None) -> str:
    """The model id whose `source` vectors dedup compares: `model` (an alias resolved), else the only one.

    Raises:
        UsageError: `model` has no vectors in the lake, or none was given and the lake holds not exactly one.
    """
    models = embedding_models(lake, source)
    if model:
        model = MODEL_ALIASES.get(model, model)
        require(
            model in models,
            f"no {source} vectors of model {model!r} in the lake (found: {', '.join(models) or 'none'}); "
            f"run facelake embed --source {source} first",
        )
        return model
    require(
        len(models) == 1,
        f"the lake holds {source} vectors of {len(models)} models ({', '.join(models) or 'none'}); "
        + ("pass {option:model}" if models else f"run facelake embed --source {source} first"),
    )
    return models[0]


def set_merge_state(lake: Lake, *, identity: str, state: str, source: str, model: str | None) -> list[str]:
    """Mark the merge group holding `identity` `undone` (not one person) or `active` again.

    Returns:
        The group's identities, sorted.

    Raises:
        UsageError: no such model (see `resolve_model`), or `identity` is in no merge group.
    """
    model = resolve_model(lake, source, model)
    group = set_group_state(lake, identity=identity, state=state, source=source, model=model)
    return sorted(group.column("identity").to_pylist())


def run_dedup(
    *,
    lake: Lake,
    source: str,
    model: str | None,
    linkage: str = Linkage.MAX,
    threshold: float | None = None,
    min_pairs: int = 1,
    min_faces: int = DedupConfig.min_faces,
    label_margin: float = LABEL_MARGIN,
    index: str = IndexKind.FLAT,
    nprobe: int = 16,
    leakage: bool = False,
    frame_labels: tuple[str, ...] = (Label.LIVE,),
    run_id: str | None = None,
) -> DedupSummary:
    """Find identities of `source` that are one person, as one recorded run.

    Args:
        model: the vectors to compare (None: the only model in the lake; `dlib` = dlib_resnet_v1).
        threshold: cosine similarity above which two faces are one person (None: per model and linkage).
        min_faces: merge only links carried by at least this many faces of each identity (or all of
            its faces, when it has fewer); a link through fewer is listed as a review candidate.
        label_margin: a face is a label suspect when its nearest other identity's centroid beats its
            own identity's centroid without it by more than this (cosine).
        frame_labels: frames only: which labels' faces stand for a subject.
        leakage: frames only: also report test identities close to a training identity.

    Returns:
        The run's summary (also recorded as the run's counts, less the per-pair lists).

    Raises:
        UsageError: a setting out of range (named by its field), or no usable model in the lake.
    """
    started = time.perf_counter()
    require(min_faces >= 1, f"must be >= 1, got {min_faces}", option="min_faces")
    require(math.isfinite(label_margin), f"must be a number, got {label_margin}", option="label_margin")
    unknown = sorted(set(frame_labels) - set(values(Label)))
    require(
        not unknown and bool(frame_labels),
        f"must name live and/or spoof, got {','.join(frame_labels)!r}",
        option="frame_labels",
    )
    require(
        not leakage or source == EmbeddingSource.FRAMES,
        "compares the test and train splits of video frames; use {option:source} frames",
        option="leakage",
    )
    model = resolve_model(lake, source, model)
    threshold = default_threshold(model, linkage) if threshold is None else threshold
    config = SearchConfig(threshold=threshold, linkage=linkage, min_pairs=min_pairs, index=index, nprobe=nprobe)
    run_id = run_id or new_run_id("dedup")
    args = {
        "model": model,
        "config": asdict(config),
        "min_faces": min_faces,
        "label_margin": label_margin,
        "leakage": leakage,
        "frame_labels": list(frame_labels),
    }
    for spec in (IDENTITY_PAIRS, IDENTITY_MERGES, LABEL_CHECKS, RUNS):
        lake.ensure(spec)
    summary = DedupSummary(run_id=run_id, source=source, model=model, linkage=linkage, threshold=threshold)

    def stop_clock(error: BaseException | None) -> None:
        if error is None:  # a failed run records no elapsed time
            summary.elapsed_s = time.perf_counter() - started

    with recorded_run(
        lake, job="dedup", source=source, args=args, run_id=run_id, counts=lambda: _counts(summary), on_end=stop_clock
    ):
        labels = frame_labels if source == EmbeddingSource.FRAMES else None
        _dedup(lake, config, summary, min_faces=min_faces, margin=label_margin, leakage=leakage, labels=labels)
    refresh_catalog_if_local(lake)
    return summary


def _counts(summary: DedupSummary) -> dict:
    counts = asdict(summary)
    counts.pop("linked")
    counts.pop("leaks")
    return counts


def _dedup(
    lake: Lake,
    config: SearchConfig,
    summary: DedupSummary,
    *,
    min_faces: int,
    margin: float,
    leakage: bool,
    labels: tuple[str, ...] | None,
) -> None:
    source, model = summary.source, summary.model
    faces = load_face_vectors(lake, source=source, model=model, labels=labels)
    face_counts = Counter(faces.identities)
    summary.faces, summary.identities = len(faces.keys), len(face_counts)
    log.info("%d %s faces of %d identities, model %s", summary.faces, source, summary.identities, model)
    settings = dict(
        source=source, model=model, linkage=config.linkage, threshold=config.threshold, run_id=summary.run_id
    )
    pairs = identity_pairs(faces, config)
    linked = [p for p in pairs if p.linked]
    supports = {(s.first, s.second): s for s in link_supports(faces, linked, config.threshold)}
    merged_links = [p for p in linked if supports[(p.first, p.second)].carried_by(min_faces)]
    decisions = {(p.first, p.second): PairDecision.NOT_LINKED for p in pairs}
    decisions.update({(p.first, p.second): PairDecision.REVIEW for p in linked})
    decisions.update({(p.first, p.second): PairDecision.MERGED for p in merged_links})
    lone = {key: s.single_face_keys for key, s in supports.items() if decisions[key] == PairDecision.REVIEW}
    write_pairs(lake, pairs, kind="duplicate", decisions=decisions, lone_faces=lone, **settings)
    summary.single_face_links = [
        (a, b, ", ".join(s.single_face_keys), decisions[(a, b)] == PairDecision.MERGED)
        for (a, b), s in supports.items()
        if s.single_face
    ]
    summary.candidate_pairs, summary.linked_pairs = len(pairs), len(merged_links)
    summary.review_links = len(linked) - len(merged_links)
    summary.linked = [(p.first, p.second, p.max_similarity) for p in merged_links]
    merges = write_merges(lake, merge_groups(merged_links, dict(face_counts)), **settings)
    groups = {r["group_id"]: r["state"] for r in merges.select(["group_id", "state"]).to_pylist()}
    summary.merge_groups = len(groups)
    summary.undone_groups = sum(1 for s in groups.values() if s == "undone")
    summary.identities_merged = merges.num_rows
    # label checks run on the merged identities (a person registered twice is not a mislabel),
    # except across a link carried by one face: that face is what the check is for
    canonical = active_canonical(lake, source=source, model=model)
    single = {frozenset((a, b)) for a, b, _, _ in summary.single_face_links}
    multi_face = [p for p in merged_links if frozenset((p.first, p.second)) not in single]
    check_groups = merge_groups(multi_face, dict(face_counts))
    check_id = {i: canonical[i] for i in check_groups if i in canonical}
    merged = FaceVectors(
        keys=faces.keys, identities=[check_id.get(i, i) for i in faces.identities], vectors=faces.vectors
    )
    checks = write_label_checks(lake, label_checks(merged, config, margin=margin), **settings)
    summary.suspect_faces = sum(checks.column("suspect").to_pylist())
    if leakage:
        _leakage(lake, config, summary, settings, labels)


def _leakage(
    lake: Lake, config: SearchConfig, summary: DedupSummary, settings: dict, labels: tuple[str, ...] | None
) -> None:
    """Test identities whose faces (max linkage) or centroid (centroid linkage) are close to a
    training identity under another id: the overlap check insightface ran between datasets."""
    test = load_face_vectors(lake, source=summary.source, model=summary.model, split="test", labels=labels)
    train = load_face_vectors(lake, source=summary.source, model=summary.model, split="train", labels=labels)
    found = {}
    for linkage in Linkage:
        threshold = config.threshold if linkage == config.linkage else default_threshold(summary.model, linkage)
        search = replace(config, threshold=threshold, linkage=linkage)
        for pair in cross_identity_pairs(test, train, search):
            key = (pair.first, pair.second)
            if key not in found or (pair.linked and not found[key].linked):
                found[key] = pair
    pairs = sorted(found.values(), key=lambda p: (not p.linked, -p.max_similarity, p.first, p.second))
    write_pairs(lake, pairs, kind="leakage", **settings)
    leaks = [p for p in pairs if p.linked]
    summary.leakage_pairs = len(leaks)
    summary.leaks = [(p.first, p.second, p.max_similarity, p.centroid_similarity) for p in leaks]

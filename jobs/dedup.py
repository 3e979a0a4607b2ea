"""`facelake dedup` / `python -m jobs.dedup`: find identities that are one person, with evidence.

FAISS searches every identity's face vectors (exact inner product by default); pairs
of identities above the threshold are kept with their evidence in `identity_pairs`,
linked pairs are merged by union-find into groups in `identity_merges` (source rows
are never rewritten), every face is label-checked into `label_checks`, and with
--leakage test-split identities close to a training identity are reported.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

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
from etl.lake.runs import RunRecord
from jobs.cli_help import add_lake_option, job_parser
from schemas import IDENTITY_MERGES, IDENTITY_PAIRS, LABEL_CHECKS, RUNS
from schemas.embeddings import EMBEDDING_SOURCES

log = logging.getLogger("facelake.dedup")

MODEL_ALIASES = {"dlib": "dlib_resnet_v1"}


@dataclass
class DedupSummary:
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
    single_face_links: list[tuple[str, str, str]] = field(default_factory=list)
    leakage_pairs: int | None = None
    linked: list[tuple[str, str, float]] = field(default_factory=list)
    leaks: list[tuple[str, str, float, float]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        # the notes' report form first: one line per merged pair
        out = [f"First: {a}, Second: {b}, Max dist: {s:.4f}" for a, b, s in self.linked]
        out += [
            f"run {self.run_id}: {self.source} faces, model {self.model}, {self.linkage} linkage, threshold {self.threshold:g}",
            f"{self.faces} faces of {self.identities} identities; {self.candidate_pairs} candidate pairs, "
            f"{self.linked_pairs} linked; {self.merge_groups} merge groups ({self.identities_merged} identities, "
            f"{self.undone_groups} groups kept undone)",
            f"Total: {self.identities}, Total left: {self.identities - self.identities_merged + self.merge_groups - self.undone_groups}",
            f"label check: {self.suspect_faces} suspect faces (a face closer to another identity than to its own)",
        ]
        out += [
            f"CHECK {a} ~ {b} rests on a single face ({keys}): a photo under the wrong user, or one good photo of a "
            f"duplicate?"
            for a, b, keys in self.single_face_links
        ]
        if self.leakage_pairs is not None:
            out.append(f"leakage: {self.leakage_pairs} test identities close to a training identity under another id")
            out += [f"LEAK test {t} ~ train {r}: max {m:.4f}, centroid {c:.4f}" for t, r, m, c in self.leaks]
        out.append(f"elapsed {self.elapsed_s:.1f} s")
        return out


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or job_parser(
        "dedup",
        __doc__,
        examples=[
            ("find users registered twice in the photo registry", "facelake dedup --lake demo/lake --source photos"),
            (
                "subjects that are one person, and test subjects who are training subjects under another id",
                "facelake dedup --lake demo/lake --source frames --leakage",
            ),
            (
                "a merge that was wrong: mark its group as not one person",
                "facelake dedup --lake demo/lake --undo user_09",
            ),
        ],
    )
    add_lake_option(parser, creates=False)
    parser.add_argument(
        "--source",
        default="photos",
        choices=EMBEDDING_SOURCES,
        help="identities of photos (users) or frames (subjects)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="which face vectors in `embeddings` to compare: a model id ('dlib' = dlib_resnet_v1); "
        "default: the only model there",
    )
    parser.add_argument(
        "--linkage",
        default="max",
        choices=("max", "centroid"),
        help="max: two identities link when any pair of their faces is above the threshold (the original "
        "SiW scripts' rule); centroid: when their mean vectors are (insightface's rule)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="cosine similarity above which two faces are one person (default: per model and linkage, "
        "e.g. 0.93 for dlib with max linkage; see docs/identity.md)",
    )
    parser.add_argument(
        "--min-pairs", type=int, default=1, help="max linkage: face pairs above the threshold needed to link"
    )
    parser.add_argument(
        "--min-faces",
        type=int,
        default=1,
        help="merge only links carried by at least this many faces of each identity (1: any face, the original rule; "
        "2: a single face filed under the wrong user does not merge two users)",
    )
    parser.add_argument(
        "--index",
        default="flat",
        choices=("flat", "ivf", "hnsw"),
        help="flat: exact inner product; ivf / hnsw: approximate, for millions of faces (pairs and label checks)",
    )
    parser.add_argument(
        "--nprobe",
        type=int,
        default=16,
        help="ivf: lists searched per face; more finds more at more cost (32 found every sampled label "
        "suspect at 1M faces, docs/identity.md)",
    )
    parser.add_argument(
        "--frame-labels",
        default="live",
        help="frames: which labels' faces stand for a subject, comma-separated (live only by default: print and "
        "replay frames are re-captures whose vectors drift towards each other; 'live,spoof' for all)",
    )
    parser.add_argument(
        "--leakage", action="store_true", help="frames only: also report test identities close to training ones"
    )
    parser.add_argument("--undo", metavar="IDENTITY", help="mark the merge group holding IDENTITY as not one person")
    parser.add_argument("--restore", metavar="IDENTITY", help="make an undone merge group active again")
    return parser


def resolve_model(lake: Lake, source: str, model: str | None) -> str:
    models = embedding_models(lake, source)
    if model:
        model = MODEL_ALIASES.get(model, model)
        if model not in models:
            raise ValueError(
                f"no {source} vectors of model {model!r} in the lake (found: {', '.join(models) or 'none'}); "
                f"run facelake embed --source {source} first"
            )
        return model
    if len(models) != 1:
        raise ValueError(
            f"the lake holds {source} vectors of {len(models)} models ({', '.join(models) or 'none'}); "
            + ("pass --model" if models else f"run facelake embed --source {source} first")
        )
    return models[0]


def run_dedup(
    *,
    lake: Lake,
    source: str,
    model: str | None,
    linkage: str = "max",
    threshold: float | None = None,
    min_pairs: int = 1,
    min_faces: int = 1,
    index: str = "flat",
    nprobe: int = 16,
    leakage: bool = False,
    frame_labels: tuple[str, ...] = ("live",),
    run_id: str | None = None,
) -> DedupSummary:
    started = time.perf_counter()
    if min_faces < 1:
        raise ValueError(f"--min-faces must be >= 1, got {min_faces}")
    unknown = sorted(set(frame_labels) - {"live", "spoof"})
    if unknown or not frame_labels:
        raise ValueError(f"--frame-labels must name live and/or spoof, got {','.join(frame_labels)!r}")
    if leakage and source != "frames":
        raise ValueError("--leakage compares the test and train splits of video frames; use --source frames")
    model = resolve_model(lake, source, model)
    threshold = default_threshold(model, linkage) if threshold is None else threshold
    config = SearchConfig(threshold=threshold, linkage=linkage, min_pairs=min_pairs, index=index, nprobe=nprobe)
    record = RunRecord(
        lake,
        job="dedup",
        source=source,
        args={
            "model": model,
            "config": asdict(config),
            "min_faces": min_faces,
            "leakage": leakage,
            "frame_labels": list(frame_labels),
        },
        run_id=run_id,
    )
    for spec in (IDENTITY_PAIRS, IDENTITY_MERGES, LABEL_CHECKS, RUNS):
        lake.ensure(spec)
    record.start()
    summary = DedupSummary(run_id=record.run_id, source=source, model=model, linkage=linkage, threshold=threshold)
    try:
        labels = frame_labels if source == "frames" else None
        _dedup(lake, config, summary, min_faces=min_faces, leakage=leakage, labels=labels)
    except BaseException as error:
        record.finish(
            status="interrupted" if isinstance(error, KeyboardInterrupt) else "failed",
            counts=_counts(summary),
            error=repr(error),
        )
        raise
    summary.elapsed_s = time.perf_counter() - started
    record.finish(status="succeeded", counts=_counts(summary))
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
    write_pairs(lake, pairs, kind="duplicate", **settings)
    linked = [p for p in pairs if p.linked]
    supports = {(s.first, s.second): s for s in link_supports(faces, linked, config.threshold)}
    summary.single_face_links = [
        (a, b, ", ".join(s.single_face_keys)) for (a, b), s in supports.items() if s.single_face
    ]
    merged_links = [p for p in linked if supports[(p.first, p.second)].carried_by(min_faces)]
    summary.candidate_pairs, summary.linked_pairs = len(pairs), len(merged_links)
    summary.linked = [(p.first, p.second, p.max_similarity) for p in merged_links]
    merges = write_merges(lake, merge_groups(merged_links, dict(face_counts)), **settings)
    groups = {r["group_id"]: r["state"] for r in merges.select(["group_id", "state"]).to_pylist()}
    summary.merge_groups = len(groups)
    summary.undone_groups = sum(1 for s in groups.values() if s == "undone")
    summary.identities_merged = merges.num_rows
    # label checks run on the merged identities (a person registered twice is not a mislabel),
    # except across a link carried by one face: that face is what the check is for
    canonical = active_canonical(lake, source=source, model=model)
    single = {frozenset((a, b)) for a, b, _ in summary.single_face_links}
    multi_face = [p for p in merged_links if frozenset((p.first, p.second)) not in single]
    check_groups = merge_groups(multi_face, dict(face_counts))
    check_id = {i: canonical[i] for i in check_groups if i in canonical}
    merged = FaceVectors(
        keys=faces.keys, identities=[check_id.get(i, i) for i in faces.identities], vectors=faces.vectors
    )
    checks = write_label_checks(lake, label_checks(merged, config), **settings)
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
    for linkage in ("max", "centroid"):
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


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging

    setup_logging()
    args = build_parser().parse_args(argv)
    lake = Lake.open(args.lake)
    try:
        if args.undo or args.restore:
            model = resolve_model(lake, args.source, args.model)
            identity, state = (args.undo, "undone") if args.undo else (args.restore, "active")
            group = set_group_state(lake, identity=identity, state=state, source=args.source, model=model)
            log.info(
                "merge group of %s (%s) is now %s",
                identity,
                ", ".join(sorted(group.column("identity").to_pylist())),
                state,
            )
            return 0
        summary = run_dedup(
            lake=lake,
            source=args.source,
            model=args.model,
            linkage=args.linkage,
            threshold=args.threshold,
            min_pairs=args.min_pairs,
            min_faces=args.min_faces,
            index=args.index,
            nprobe=args.nprobe,
            leakage=args.leakage,
            frame_labels=tuple(x.strip() for x in args.frame_labels.split(",") if x.strip()),
        )
    except ValueError as error:
        log.error("%s", error)
        return 2
    for line in summary.lines():
        log.info("%s", line)
    return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))

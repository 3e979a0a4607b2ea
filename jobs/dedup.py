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
from dataclasses import asdict, fields

from etl.identity.run import DedupConfig, run_dedup, set_merge_state
from etl.lake.lake import Lake
from jobs.cli_help import add_lake_option, job_parser
from jobs.logs import job_main, log_summary, report_error
from schemas.vocabulary import EmbeddingSource, IndexKind, Linkage, values

log = logging.getLogger("facelake.dedup")


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
        choices=values(EmbeddingSource),
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
        choices=values(Linkage),
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
        choices=values(IndexKind),
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


def config_from_args(args: argparse.Namespace) -> DedupConfig:
    settings = {f.name: getattr(args, f.name) for f in fields(DedupConfig)}
    settings["frame_labels"] = tuple(x.strip() for x in args.frame_labels.split(",") if x.strip())
    return DedupConfig(**settings)


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    lake = Lake.open(args.lake)
    try:
        if args.undo or args.restore:
            identity, state = (args.undo, "undone") if args.undo else (args.restore, "active")
            members = set_merge_state(lake, identity=identity, state=state, source=config.source, model=config.model)
            log.info("merge group of %s (%s) is now %s", identity, ", ".join(members), state)
            return 0
        summary = run_dedup(lake=lake, **asdict(config))
    except ValueError as error:  # UsageError (a FacelakeError) or a plain refusal from below: exit 2
        return report_error(error, log)
    return log_summary(summary, log)


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))

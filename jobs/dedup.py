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
from dataclasses import asdict

from etl.identity.run import DedupConfig, run_dedup, set_merge_state
from etl.lake.lake import Lake
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions, config_from
from jobs.common.runner import job_main, log_summary, report_error, run_job
from schemas.vocabulary import EmbeddingSource, IndexKind, Linkage, values

log = logging.getLogger("facelake.dedup")

EXAMPLES = """
# find users registered twice in the photo registry
facelake dedup --lake demo/lake --source photos
# subjects that are one person, and test subjects who are training subjects under another id
facelake dedup --lake demo/lake --source frames --leakage
# a merge that was wrong: mark its group as not one person
facelake dedup --lake demo/lake --undo user_09
"""


def _labels(text: str) -> tuple[str, ...]:
    """--frame-labels' comma-separated words, as DedupConfig.frame_labels."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The dedup options, on a new parser or added to `parser`."""
    parser = parser or job_parser("dedup", __doc__, examples=EXAMPLES)
    option = JobOptions(parser, DedupConfig())
    option.lake(creates=False)
    option("source", "identities of photos (users) or frames (subjects)", choices=values(EmbeddingSource))
    model_help = "which face vectors in `embeddings` to compare: a model id ('dlib' = dlib_resnet_v1); default: "
    option("model", model_help + "the only model there")
    linkage_help = "max: two identities link when any pair of their faces is above the threshold (the original SiW "
    linkage_help += "scripts' rule); centroid: when their mean vectors are (insightface's rule)"
    option("linkage", linkage_help, choices=values(Linkage))
    threshold_help = "cosine similarity above which two faces are one person (default: per model and linkage, e.g. "
    option("threshold", threshold_help + "0.93 for dlib with max linkage; see docs/identity.md)", type=float)
    option("min_pairs", "max linkage: face pairs above the threshold needed to link")
    faces_help = "merge only links carried by at least this many faces of each identity (or all its faces); a link "
    faces_help += "through fewer, as one photo filed under the wrong user makes, is listed for review, not merged "
    option("min_faces", faces_help + "(1: any face merges, the original SiW scripts' rule)", "N")
    margin_help = "label check: a face is suspect when another identity's centroid is this much more similar (cosine) "
    option("label_margin", margin_help + "than its own identity's centroid without it", "COSINE")
    index_help = "flat: exact inner product; ivf / hnsw: approximate, for millions of faces (pairs and label checks)"
    option("index", index_help, choices=values(IndexKind))
    nprobe_help = "ivf: lists searched per face; more finds more at more cost (32 found every sampled label suspect at "
    option("nprobe", nprobe_help + "1M faces, docs/identity.md)")
    labels_help = "frames: which labels' faces stand for a subject, comma-separated (live only by default: print and "
    labels_help += "replay frames are re-captures whose vectors drift towards each other; 'live,spoof' for all)"
    # typed as the user types it: the default, a string, goes through _labels as a given value does
    option("frame_labels", labels_help, type=_labels, default=",".join(DedupConfig().frame_labels))
    option("leakage", "frames only: also report test identities close to training ones")
    parser.add_argument("--undo", metavar="IDENTITY", help="mark the merge group holding IDENTITY as not one person")
    parser.add_argument("--restore", metavar="IDENTITY", help="make an undone merge group active again")
    return parser


def config_from_args(args: argparse.Namespace) -> DedupConfig:
    return config_from(args, DedupConfig)


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
    sys.exit(run_job(main))

"""`facelake ingest` / `python -m jobs.ingest`: a SiW video tree into the lake's `videos` and `frames` tables.

Each video is one Ray task: its frames are decoded, the face found (etl/faces/track.py: mostly ONet alone, the full
cascade as a guard) and aligned to 112x112. Finished videos are committed every --commit-every videos, with a progress
bar (`etl.ingest.store`); a killed run loses at most the uncommitted videos, and the next run picks up where it stopped.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys

from etl.config import CROP_FORMATS, IngestConfig
from etl.ingest.run import check_source, run_ingest, watch
from etl.lake.lake import Lake
from etl.sources.siw_tree import NotASourceError, check_lake_outside_source
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions, config_from, detector_from, ray_address
from jobs.common.progress import FrameProgress
from jobs.common.runner import job_main, log_summary, report_error, run_job

log = logging.getLogger("facelake.ingest")


EXAMPLES = """
# ingest the demo tree (`facelake sample --out demo/siw` writes one)
facelake ingest --source demo/siw --lake demo/lake
# on a Ray cluster, from one of its nodes: the tree must be mounted at the same path on every node
facelake ingest --source /shared/SiW --lake /shared/lake --address HEAD_IP:6379 --workers 32 --gpus-per-worker 0.25
# from a tree on S3 into a lake on S3 (credentials from AWS_* or FACELAKE_STORAGE_OPTIONS, on every node)
facelake ingest --source s3://bucket/SiW --lake s3://bucket/lake --address HEAD_IP:6379 --workers 32
# keep ingesting what arrives, every 10 minutes, until Ctrl-C or SIGTERM
facelake ingest --source /data/siw --lake /data/lake --watch --interval 600
# reprocess every video with other detector settings
facelake ingest --source demo/siw --lake demo/lake --full --min-face-size 30 --accept-score 0.9
# then: a photo registry into the same lake
facelake register --source demo/photos --lake demo/lake
"""
NOTES = """\
source: the SiW layout {Train,Test}/{live,spoof}/SSS/SSS-sensor-type-medium-session.mov (or .m.mov),
each video's .face file beside it. A folder without Train/ or Test/ holding live/ or spoof/
is refused before anything is written (a photo tree goes to `facelake register`); inside a
SiW tree a badly named or unreadable video becomes a row with its status and reason.
A rerun processes only new, changed and failed videos."""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The ingest options, on a new parser or added to `parser`."""
    parser = parser or job_parser("ingest", __doc__, examples=EXAMPLES, notes=NOTES)
    option = JobOptions(parser, IngestConfig())
    option.source_tree(tree="SiW tree", holding="Train/ and/or Test/")
    option.lake(creates=True)
    option.ray_address()
    option("workers", "videos processed at once (Ray tasks of one CPU each)", "N")
    option(
        "gpus_per_worker", "GPUs each video task asks Ray for (e.g. 0.25: four tasks share a GPU); 0: CPU only", "GPUS"
    )
    option("frame_stride", "keep every N-th frame of each video (1: every frame)", "N")
    option("crops", "also store each frame's .face-box crop in this image format", choices=CROP_FORMATS)
    option("full", "reprocess every video, even unchanged ones (after changing detector settings)")
    option("commit_every", "videos per Delta commit: what a crash can lose at most", "N")
    memory_help = "stop a video whose processing grows its worker's memory by more than this many MB (0: no limit)"
    option("task_memory_mb", memory_help + "; it gets an error row and the next run retries it", "MB")
    option.detector(
        unit="frame",
        thresholds=True,
        tracking=True,
        accept_help="a frame whose best face scores below this gets det_status low_score and no aligned face",
    )
    option.run_flags(strict_when="any video did not end ok (by default failures are rows and the exit is 0)")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="keep ingesting what is new every --interval seconds until Ctrl-C or SIGTERM; the source "
        "may start empty (each pass first checks it is a SiW tree)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="with --watch: seconds from the end of one pass to the start of the next",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> IngestConfig:
    return config_from(args, IngestConfig, detector=detector_from(args))


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    if args.watch and not args.interval > 0:
        log.error("--interval must be > 0 seconds, got %s", args.interval)
        return 2
    # the source is checked before the lake is opened: a wrong --source writes nothing anywhere
    try:
        check_source(args.source, watch=args.watch)
        check_lake_outside_source(args.lake, args.source)
    except NotASourceError as error:
        return report_error(error, log)
    lake, address = Lake.open(args.lake, create=True), ray_address(args)
    progress = functools.partial(FrameProgress, enabled=not args.no_progress)
    if args.watch:
        result = watch(
            source=args.source, lake=lake, config=config, address=address, interval=args.interval, progress=progress
        )
        return 130 if result.stopped_during_pass else 0
    try:
        summary = run_ingest(source=args.source, lake=lake, config=config, address=address, progress=progress)
    except KeyboardInterrupt:
        log.warning("ingest interrupted; finished videos are committed, rerun to complete")
        return 130
    return log_summary(summary, log, failed=args.strict and bool(summary.failures))


if __name__ == "__main__":
    sys.exit(run_job(main, job="ingest"))

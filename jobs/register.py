"""`facelake register` / `python -m jobs.register`: a photo tree `<root>/<user>/*.jpg` into the lake's `photos` table.

Ray tasks detect the faces of a few photos each (a second, more permissive pass over the
photos with no face) and align them to 112x112; each photo is routed single, multi or
none by its faces. The job commits rows in batches (replacing a photo's row by its id, so
a rerun after a crash does not duplicate it). Unchanged photos are skipped: a rerun adds nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import asdict

from etl.config import RETRY_DETECTOR, DetectorConfig, RegisterConfig
from etl.ingest.run import run_register
from etl.lake.lake import Lake
from etl.sources.photo_tree import check_photo_source
from etl.sources.siw_tree import NotASourceError, check_lake_outside_source
from jobs.logs import job_main, log_summary, report_error

log = logging.getLogger("facelake.register")

# The job is only: parse the command line, build the typed config, call the run (etl.ingest.run),
# map its outcome to an exit code. What a run does is in etl/ingest/.


EXAMPLES = [
    (
        "register the demo photo registry (`facelake sample --photos demo/photos` writes one) into the demo lake",
        "facelake register --source demo/photos --lake demo/lake",
    ),
    (
        "then: a face vector per photo, and people registered twice found and merged",
        "facelake embed --lake demo/lake --source photos && facelake dedup --lake demo/lake --source photos",
    ),
    (
        "on a Ray cluster, from one of its nodes: the tree must be mounted at the same path on every node",
        "facelake register --source /shared/photos --lake /shared/lake --address HEAD_IP:6379 --workers 16",
    ),
    (
        "only the first detector pass, photos with no face are left as they are",
        "facelake register --source demo/photos --lake demo/lake --retry-detector none",
    ),
]
NOTES = """\
source: one folder per user directly inside --source, holding that user's photos
(.jpg, .jpeg, .png): <root>/<user>/<photo>. Other files are counted and named in the log.
A folder with no photo in a user folder is refused before anything is written (a SiW video
tree goes to `facelake ingest`). A rerun processes only new, changed and failed photos."""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The register options, on a new parser or added to `parser`."""
    from jobs.cli_help import add_lake_option, add_ray_address_option, job_parser

    parser = parser or job_parser("register", __doc__, examples=EXAMPLES, notes=NOTES)
    detector, defaults = DetectorConfig(), RegisterConfig()
    parser.add_argument(
        "--source",
        required=True,
        metavar="DIR|URI",
        help="root of the photo tree: the folder (or s3://bucket/prefix) holding one folder per user; "
        "only read, never changed",
    )
    add_lake_option(parser, creates=True)
    add_ray_address_option(parser)
    parser.add_argument(
        "--workers", type=int, default=defaults.workers, metavar="N", help="Ray tasks at once (one CPU each)"
    )
    parser.add_argument(
        "--photos-per-task",
        type=int,
        default=defaults.photos_per_task,
        metavar="N",
        help="photos per Ray task; a batch commit every --workers x N photos",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="reprocess every photo, even unchanged ones (after changing detector settings)",
    )
    parser.add_argument(
        "--detector",
        default=detector.backend,
        metavar="NAME",
        help="first pass face detector: mtcnn (weights ship with the package) or insightface:DIR "
        "(an SCRFD/RetinaFace .onnx file in DIR)",
    )
    parser.add_argument(
        "--accept-score",
        type=float,
        default=detector.accept_score,
        metavar="SCORE",
        help="first pass: faces scoring below this are not counted",
    )
    parser.add_argument(
        "--min-face-size",
        type=int,
        default=detector.min_face_size,
        metavar="PIXELS",
        help="first pass: smallest face searched for, in photo pixels (at least 12)",
    )
    parser.add_argument(
        "--retry-detector",
        default=RETRY_DETECTOR.backend,
        metavar="NAME",
        help="second pass over the photos where the first found no face: mtcnn (with more permissive "
        f"settings: stage thresholds {' '.join(map(str, RETRY_DETECTOR.stage_thresholds))}, "
        f"faces from {RETRY_DETECTOR.min_face_size} pixels, score {RETRY_DETECTOR.accept_score}), "
        "insightface:DIR, or none (no second pass)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any photo did not end ok (by default failures are rows and the exit is 0)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> RegisterConfig:
    detector = DetectorConfig(backend=args.detector, accept_score=args.accept_score, min_face_size=args.min_face_size)
    retry = None
    if args.retry_detector != "none":
        retry = DetectorConfig(**{**asdict(RETRY_DETECTOR), "backend": args.retry_detector})
    return RegisterConfig(
        detector=detector,
        retry_detector=retry,
        workers=args.workers,
        photos_per_task=args.photos_per_task,
        full=args.full,
    )


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    # the source is checked before the lake is opened: a wrong --source writes nothing anywhere
    try:
        check_photo_source(args.source)
        check_lake_outside_source(args.lake, args.source)
    except NotASourceError as error:
        return report_error(error, log)
    lake = Lake.open(args.lake, create=True)
    try:
        summary = run_register(
            source=args.source, lake=lake, config=config, address=args.address or os.environ.get("RAY_ADDRESS")
        )
    except KeyboardInterrupt:
        log.warning("register interrupted; finished photos are committed, rerun to complete")
        return 130
    return log_summary(summary, log, failed=args.strict and bool(summary.failures))


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main, job="register"))

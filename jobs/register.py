"""`facelake register` / `python -m jobs.register`: a photo tree `<root>/<user>/*.jpg` into the lake's `photos` table.

Ray tasks detect the faces of a few photos each (a second, more permissive pass over the
photos with no face) and align them to 112x112; each photo is routed single, multi or
none by its faces. The job commits rows in batches (replacing a photo's row by its id, so
a rerun after a crash does not duplicate it). Unchanged photos are skipped: a rerun adds nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from etl.config import RETRY_DETECTOR, RegisterConfig
from etl.ingest.run import run_register
from etl.lake.lake import Lake
from etl.sources.photo_tree import check_photo_source
from etl.sources.siw_tree import NotASourceError, check_lake_outside_source
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions, config_from, detector_from, ray_address
from jobs.common.runner import job_main, log_summary, report_error, run_job

log = logging.getLogger("facelake.register")


EXAMPLES = """
# register the demo photo registry (`facelake sample --photos demo/photos` writes one) into the demo lake
facelake register --source demo/photos --lake demo/lake
# then: a face vector per photo, and people registered twice found and merged
facelake embed --lake demo/lake --source photos && facelake dedup --lake demo/lake --source photos
# on a Ray cluster, from one of its nodes: the tree must be mounted at the same path on every node
facelake register --source /shared/photos --lake /shared/lake --address HEAD_IP:6379 --workers 16
# only the first detector pass, photos with no face are left as they are
facelake register --source demo/photos --lake demo/lake --retry-detector none
"""
NOTES = """\
source: one folder per user directly inside --source, holding that user's photos
(.jpg, .jpeg, .png): <root>/<user>/<photo>. Other files are counted and named in the log.
A folder with no photo in a user folder is refused before anything is written (a SiW video
tree goes to `facelake ingest`). A rerun processes only new, changed and failed photos."""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The register options, on a new parser or added to `parser`."""
    parser = parser or job_parser("register", __doc__, examples=EXAMPLES, notes=NOTES)
    option = JobOptions(parser, RegisterConfig())
    option.source_tree(tree="photo tree", holding="one folder per user")
    option.lake(creates=True)
    option.ray_address()
    option("workers", "Ray tasks at once (one CPU each)", "N")
    option("photos_per_task", "photos per Ray task; a batch commit every --workers x N photos", "N")
    option("full", "reprocess every photo, even unchanged ones (after changing detector settings)")
    option.detector(unit="photo", pass_name="first pass", accept_help="faces scoring below this are not counted")
    # a backend name or "none"; config_from_args builds RegisterConfig.retry_detector's DetectorConfig from it
    retry = RETRY_DETECTOR
    retry_settings = f"stage thresholds {' '.join(map(str, retry.stage_thresholds))}, faces from {retry.min_face_size}"
    parser.add_argument(
        "--retry-detector",
        default=retry.backend,
        metavar="NAME",
        help="second pass over the photos where the first found no face: mtcnn (with more permissive "
        f"settings: {retry_settings} pixels, score {retry.accept_score}), insightface:DIR, or none (no second pass)",
    )
    strict_when = "any photo did not end ok (by default failures are rows and the exit is 0)"
    option.run_flags(strict_when=strict_when, progress=False)
    return parser


def config_from_args(args: argparse.Namespace) -> RegisterConfig:
    retry = None if args.retry_detector == "none" else replace(RETRY_DETECTOR, backend=args.retry_detector)
    return config_from(args, RegisterConfig, detector=detector_from(args), retry_detector=retry)


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
        summary = run_register(source=args.source, lake=lake, config=config, address=ray_address(args))
    except KeyboardInterrupt:
        log.warning("register interrupted; finished photos are committed, rerun to complete")
        return 130
    return log_summary(summary, log, failed=args.strict and bool(summary.failures))


if __name__ == "__main__":
    sys.exit(run_job(main, job="register"))

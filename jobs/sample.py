"""`facelake sample`: a small SiW-layout tree of videos, and optionally a photo registry, made from real face photos.

The videos are rendered from face photos shipped in installed packages, with the real
dataset's known defects planted once each (a .face line with a missing number, a 0 0 0 0
box, a short .face, a *.m.mov name, a face leaving the frame, a truncated video);
`sample_manifest.json` describes every file. Nothing is downloaded, and the same
arguments write byte-identical files.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from etl.errors import FacelakeError
from etl.synthetic.run import SampleConfig, run_sample
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions, config_from
from jobs.common.runner import run_job, start_job

log = logging.getLogger("facelake.sample")

EXAMPLES = """
# a video tree and a photo registry for the demo (what `make demo` writes)
facelake sample --out demo/siw --photos demo/photos --subjects 8
# then ingest and register them
facelake ingest --source demo/siw --lake demo/lake && facelake register --source demo/photos --lake demo/lake
# a tiny tree for a quick try (2 subjects, 1-second videos)
facelake sample --out /tmp/siw --subjects 2 --seconds 1
# a photo registry with one photo filed under the wrong user (for `facelake dedup`'s label check)
facelake sample --photos /tmp/photos --mislabeled
"""


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("sample", __doc__, examples=EXAMPLES)
    # the class, not an instance: its fields' defaults (SampleConfig() refuses neither --out nor --photos)
    option = JobOptions(parser, SampleConfig)
    out_help = "write the SiW video tree {Train,Test}/{live,spoof}/SSS/*.mov here: a new or empty folder, or a "
    option("out", out_help + "previous sample (replaced)", "DIR", type=Path)
    photos_help = "also (or only) write a photo registry <user>/*.jpg here, one person registered twice under two user "
    option("photos", photos_help + "names: a new or empty folder, or a previous registry (replaced)", "DIR", type=Path)
    option("mislabeled", "with --photos: also file one person's photo under another user")
    subjects_help = "subjects in the video tree (1 to 999): 6 videos each (2 live, 2 print, 2 replay), odd ones in "
    option("subjects", subjects_help + "Train, even ones in Test, plus one extra video", "N")
    option("seconds", "length of each video, at 30 frames per second (at least 10 frames)", "S")
    option("seed", "random seed of the videos and photos; the same seed writes the same bytes", "N")
    return parser


def _config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> SampleConfig:
    if args.out is None and args.photos is None:
        parser.error("pass --out (videos) and/or --photos (a photo registry)")
    return config_from(args, SampleConfig)


def main(argv: list[str] | None = None) -> int:
    """Parse, build the `SampleConfig`, call `etl.synthetic.run.run_sample` (which writes and logs what it
    wrote), map the outcome to an exit code: 0, or 2 when an argument or a destination is refused."""
    parser = build_parser()
    started = start_job(parser, lambda args: _config(parser, args), argv, log=log)
    if started is None:
        return 2
    try:
        run_sample(started[1])
    except ValueError as error:  # a refused argument or destination (UsageError is one): nothing more is written
        log.error("%s", error.line(flags=True) if isinstance(error, FacelakeError) else error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main, job="sample"))

"""`facelake report`: the audit as one self-contained HTML file (tables, charts, faces).

Charts of detection per video, lost frames, storage and sharpness, contact sheets of aligned
faces per label and attack type, the faces kept in the worst videos; a scored model's section
(from `facelake score`: error rates, ROC/DET and calibration of its test part, error slices,
confident errors with their faces, label suspects); the shortcut audit; and every other audit
question's table (with its default parameters). Images are inline: the file opens offline.
Nothing is written to the lake.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from etl.lake.lake import Lake
from etl.report.run import run_report
from jobs.common.cli_help import job_parser
from jobs.common.logs import setup_logging
from jobs.common.options import JobOptions
from jobs.common.runner import run_job

log = logging.getLogger("facelake.report")

EXAMPLES = """
# the demo lake's report
facelake report --lake demo/lake --out demo/report.html
# a lake on S3, written locally
facelake report --lake s3://bucket/lake --out report.html
# the model section of one scored model (default: the model created last)
facelake report --lake demo/lake --out demo/report.html --train-id RUN_ID/P1
"""


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("report", __doc__, examples=EXAMPLES)
    JobOptions(parser).lake(creates=False)
    out_help = "the HTML file to write (its folder is created; an existing file is replaced)"
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.html", help=out_help)
    train_id_help = (
        "the scored model the model section shows, as `facelake score` keys it (RUN_ID/PROTOCOL, a train_runs "
        "train_id) (default: the model created last)"
    )
    parser.add_argument("--train-id", default=None, metavar="RUN_ID/PROTOCOL", help=train_id_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    if args.out.suffix.lower() not in (".html", ".htm"):
        log.error("--out %s: the report is HTML; give a file name ending in .html", args.out)
        return 2
    if args.out.is_dir():
        log.error("--out %s: it is a folder; give a file name ending in .html", args.out)
        return 2
    # a path without a lake: LakeNotFoundError before anything is written (one line, exit 2 in run_job)
    lake = Lake.open(args.lake)
    summary = run_report(lake=lake, out=args.out, train_id=args.train_id)
    log.info("report written: %s (%.1f MB)", summary.path, summary.chars / 1e6)
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main, job="report"))

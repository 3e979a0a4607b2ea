"""`facelake report`: the audit as one self-contained HTML file (tables, charts, faces)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from etl.lake import Lake

log = logging.getLogger("facelake.report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelake report", description=__doc__)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--out", required=True, type=Path, help="the HTML file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging
    from etl.report import build_report

    setup_logging()
    args = build_parser().parse_args(argv)
    if args.out.suffix.lower() not in (".html", ".htm"):
        log.error("--out %s: the report is HTML; give a file name ending in .html", args.out)
        return 2
    html = build_report(Lake.open(args.lake))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(html, encoding="utf-8")
    log.info("report written: %s (%.1f MB)", args.out, len(html) / 1e6)
    return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))

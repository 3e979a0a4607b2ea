"""`facelake sample`: a small SiW-layout tree of videos made from real face photos."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("facelake.sample")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelake sample", description=__doc__)
    parser.add_argument("--out", required=True, type=Path, help="folder to write (new, or a previous sample)")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging

    setup_logging()
    args = build_parser().parse_args(argv)
    from etl.sample_tree import write_sample_tree

    try:
        manifest = write_sample_tree(args.out, subjects=args.subjects, seconds=args.seconds, seed=args.seed)
    except ValueError as error:
        log.error("%s", error)
        return 2
    log.info("wrote %d videos to %s (manifest: sample_manifest.json)", len(manifest.videos), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

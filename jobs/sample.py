"""`facelake sample`: a small SiW-layout tree of videos, and optionally a photo registry, made from real face photos."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("facelake.sample")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelake sample", description=__doc__)
    parser.add_argument("--out", type=Path, help="video tree folder to write (new, or a previous sample)")
    parser.add_argument("--photos", type=Path, help="also write a photo registry <user>/*.jpg here (one person registered twice)")
    parser.add_argument("--mislabeled", action="store_true", help="photo registry: file one photo under the wrong user")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging

    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.out is None and args.photos is None:
        parser.error("pass --out (videos) and/or --photos (a photo registry)")
    from etl.sample_photos import write_photo_registry
    from etl.sample_tree import write_sample_tree

    try:
        if args.out is not None:
            manifest = write_sample_tree(args.out, subjects=args.subjects, seconds=args.seconds, seed=args.seed)
            log.info("wrote %d videos to %s (manifest: sample_manifest.json)", len(manifest.videos), args.out)
        if args.photos is not None:
            registry = write_photo_registry(args.photos, seed=args.seed, mislabeled=args.mislabeled)
            log.info("wrote %d photos of %d users to %s (manifest: registry_manifest.json)", len(registry.photos),
                     len(registry.users), args.photos)
    except ValueError as error:
        log.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))

"""The `facelake` command: one sub-command per job, each also runnable as `python -m jobs.<name>`."""

from __future__ import annotations

import argparse
import importlib
import sys

from jobs.common.runner import run_job

# {group: {command: what it does}} in the order a user meets them; command NAME is module jobs.NAME
COMMAND_GROUPS = {
    "build the lake": {
        "sample": "write a small SiW-layout tree of videos (and a photo registry) from real face photos",
        "ingest": "decode a SiW video tree, detect and align faces into the videos and frames tables",
        "register": "detect and align the faces of a photo tree <root>/<user>/*.jpg into photos",
        "embed": "compute a face vector per aligned face (frames or photos) into embeddings",
    },
    "look at it": {
        "audit": "answer the dataset's recurring questions (lost detections, sizes, defects) with DuckDB",
        "sql": "run a read-only SQL query, or a named one, over the lake",
        "report": "write the audit as one self-contained HTML file with charts and faces",
        "catalog": "(re)write LAKE/catalog.duckdb for plain DuckDB and print how to open it",
    },
    "clean it": {
        "dedup": "find identities that are one person (FAISS), merge them, check labels and split leakage",
        "forget": "erase one person from every table, bytes and older versions included",
        "maintain": "compact small files and vacuum old ones in every table",
    },
    "train and use a model": {
        "train": "train the live/spoof classifier with Ray Train on SiW protocols; ISO/IEC 30107-3 metrics",
        "predict": "score photos or videos with a trained live/spoof model",
        "score": "score the lake's faces with a trained model into the scores table (error slices, mistakes)",
    },
}
COMMANDS = {name: what for commands in COMMAND_GROUPS.values() for name, what in commands.items()}

EPILOG = """examples:
  facelake sample --out demo/siw --photos demo/photos
  facelake ingest --source demo/siw --lake demo/lake
  facelake audit --lake demo/lake
  facelake train --lake demo/lake --out demo/models --epochs 10

'facelake COMMAND --help' shows each command's options, defaults and examples."""


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("facelake")
    except PackageNotFoundError:  # run from a checkout that was not pip-installed
        return "unknown (not installed)"


def command_list() -> str:
    lines = ["commands:"]
    width = max(len(name) for name in COMMANDS)
    for group, commands in COMMAND_GROUPS.items():
        lines.append(f"  {group}:")
        lines += [f"    {name.ljust(width)}  {what}" for name, what in commands.items()]
    return "\n".join(lines)


def command_module(command: str) -> str:
    """The module whose `main` runs `command` (`python -m jobs.<command>` runs it too)."""
    return f"jobs.{command}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facelake",
        usage="facelake [-h] [--version] COMMAND [options]",
        description="Face anti-spoofing and face-recognition datasets as a versioned data lake.\n\n" + command_list(),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"facelake {version()}")
    parser.add_argument("command", metavar="COMMAND", choices=sorted(COMMANDS), help="one of the commands above")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    module = importlib.import_module(command_module(args.command))
    return run_job(module.main, argv[1:], job=args.command)


if __name__ == "__main__":
    sys.exit(main())

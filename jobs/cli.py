"""The `facelake` command: one sub-command per job, each also runnable as `python -m jobs.<name>`."""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "sample": ("jobs.sample", "write a small SiW-layout sample tree made from real face photos"),
    "ingest": ("jobs.ingest", "ingest a SiW tree into the lake's videos and frames tables"),
    "sql": ("jobs.sql", "run a read-only SQL query (or a named query) over the lake with DuckDB"),
    "audit": ("jobs.audit", "run every audit question in queries/ over the lake and print the answers"),
    "report": ("jobs.report", "write the audit as one self-contained HTML file with charts and faces"),
    "register": ("jobs.register", "register a photo tree <root>/<user>/*.jpg into the lake's photos table"),
    "embed": ("jobs.embed", "compute a face vector per aligned face (frames or photos) into embeddings"),
    "train": ("jobs.train", "train the live/spoof classifier with Ray Train on SiW protocols; metrics, TFLite, model card"),
    "dedup": ("jobs.dedup", "find identities that are one person (FAISS), merge them, check labels and split leakage"),
    "forget": ("jobs.forget", "erase one person (--subject ID or --user NAME) from every table, bytes and older versions included; recorded by a hash"),
    "maintain": ("jobs.maintain", "compact small files and vacuum old ones in every table; keeps the frames versions train runs read"),
    "predict": ("jobs.predict", "score images or videos with a trained live/spoof model (Keras or TFLite), JSON lines out"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="facelake", description="Face anti-spoofing datasets as a data lake.")
    parser.add_argument("command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items()))
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    from jobs.logs import run_job

    module = importlib.import_module(COMMANDS[args.command][0])
    return run_job(module.main, argv[1:])


if __name__ == "__main__":
    sys.exit(main())

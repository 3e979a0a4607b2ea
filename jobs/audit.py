"""`facelake audit`: every question in `queries/` over the lake, printed one after another."""
from __future__ import annotations

import argparse
import logging
import sys

from etl.lake import Lake
from etl.runs import RunRecord
from etl.query import connect, execute, load_query, query_names, query_title
from jobs.output import FORMATS, format_table
from schemas import ALL_TABLES, RUNS

log = logging.getLogger("facelake.audit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelake audit", description=__doc__)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"run only these: {', '.join(query_names())}")
    parser.add_argument("--format", choices=FORMATS, default="table")
    return parser


def run_audit(lake: Lake, names: list[str]) -> list[tuple[str, str, object]]:
    """(name, title, Arrow table) per query, all on one DuckDB connection."""
    connection = connect(lake)
    try:
        results = []
        for name in names:
            sql = load_query(name)
            results.append((name, query_title(sql), execute(connection, sql)))
        return results
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging

    setup_logging()
    args = build_parser().parse_args(argv)
    known = query_names()
    names = args.only or known
    unknown = [n for n in names if n not in known]
    if unknown:
        log.error("unknown queries %s; known: %s", unknown, ", ".join(known))
        return 2
    lake = Lake.open(args.lake)
    # the answers go to stdout; the run (which questions, how many rows each) to `runs` once
    # it ended (so the audit's own answers never show it running), and only in an existing
    # lake: a mistyped --lake must not become a new one
    record = RunRecord(lake, job="audit", source=None, args={"only": names, "format": args.format})
    recorded = any(lake.exists(spec) for spec in ALL_TABLES.values())
    if recorded:
        lake.ensure(RUNS)
    try:
        results = run_audit(lake, names)
    except BaseException as error:
        if recorded:
            record.finish(status="interrupted" if isinstance(error, KeyboardInterrupt) else "failed", counts={},
                          error=repr(error))
        raise
    for name, title, table in results:
        heading = f"## {name}: {title}" if args.format == "markdown" else f"== {name}: {title} ({table.num_rows} rows)"
        sys.stdout.write(f"{heading}\n{format_table(table, args.format)}\n\n")
    if recorded:
        record.finish(status="succeeded", counts={"rows": {name: table.num_rows for name, _, table in results}})
    return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))

"""`facelake sql`: a named query from `queries/` (or SQL text) over the lake, with DuckDB."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from etl.lake import Lake
from etl.query import first_line, load_query, query_names, run_query
from jobs.output import FORMATS, format_table

log = logging.getLogger("facelake.sql")


def _param(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param wants name=value, got {text!r}")
    name, value = text.split("=", 1)
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelake sql", description=__doc__)
    parser.add_argument("--lake", required=True)
    parser.add_argument("sql", nargs="?", help="SQL text (SELECT ...)")
    parser.add_argument("--query", help=f"a named query: {', '.join(query_names())}")
    parser.add_argument("-f", "--file", type=Path, help="a .sql file to run")
    parser.add_argument("--param", type=_param, action="append", default=[], help="name=value for $name in the query")
    parser.add_argument("--format", choices=FORMATS, default="table")
    return parser


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging

    setup_logging()
    args = build_parser().parse_args(argv)
    if sum(bool(x) for x in (args.sql, args.query, args.file)) != 1:
        log.error("give exactly one of: SQL text, --query NAME, -f FILE.sql (named queries: %s)", ", ".join(query_names()))
        return 2
    import duckdb

    try:
        if args.file:
            if not args.file.is_file():
                raise ValueError(f"-f {args.file}: no such file")
            sql = args.file.read_text()
        else:
            sql = load_query(args.query) if args.query else args.sql
        result = run_query(Lake.open(args.lake), sql, dict(args.param))
    except (ValueError, duckdb.Error) as error:
        log.error("%s", first_line(error))
        return 2
    sys.stdout.write(format_table(result, args.format) + "\n")
    return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))

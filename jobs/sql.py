"""`facelake sql`: one read-only query over the lake with DuckDB: SQL text, a .sql file or a named query.

Every table of the lake is a view by its name (videos, frames, photos, embeddings,
identity_pairs, identity_merges, label_checks, train_runs, runs, erasures), reading the
table's current version; `lake_files` lists the current data files. The result goes to
stdout in the chosen format; errors are one line on stderr (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from pathlib import Path

from etl.errors import UsageError
from etl.lake.catalog import warn_if_stale
from etl.lake.lake import Lake
from etl.lake.query import (
    ALLOWED_STATEMENTS,
    describe_queries,
    first_line,
    load_query,
    parameter_values,
    query_names,
    run_query,
)
from jobs.common.answers import param_pair
from jobs.common.cli_help import job_parser
from jobs.common.logs import setup_logging
from jobs.common.options import JobOptions
from jobs.common.output import FORMATS, FORMATS_HELP, check_column_names, write_table
from jobs.common.runner import report_error, run_job

log = logging.getLogger("facelake.sql")

EXAMPLES = """
# count the frames per detection status
facelake sql --lake demo/lake "SELECT det_status, count(*) AS n FROM frames GROUP BY ALL"
# a named query with a parameter, as CSV
facelake sql --lake demo/lake --query worst_videos --param n=3 --format csv
# your own query from a file, as JSON
facelake sql --lake demo/lake -f my_query.sql --param split=test --format json
# the tables and their columns
facelake sql --lake demo/lake "SHOW ALL TABLES"
"""


NOTES = (
    textwrap.fill(
        f"read-only: facelake sql runs {ALLOWED_STATEMENTS}; writes, file readers and settings are refused.", 100
    )
    + "\n\n"
    + textwrap.fill(
        "named queries (--query NAME) and their parameters (--param NAME=VALUE; a value is "
        "converted like the default; a parameter not given takes its default):",
        100,
    )
)
HELP = {
    "sql": 'the query\'s text, e.g. "SELECT count(*) FROM frames" (give this, --query or -f)',
    "query": "run the named query NAME (listed below) instead of SQL text",
    "file": "run the query in this file; it may declare parameters with defaults in its leading "
    "comment as the named queries do (`--   $name = DEFAULT: meaning`)",
    "param": "bind the query's $NAME to VALUE (repeat for several); DuckDB binds it, it is never "
    "pasted into the SQL text",
}


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("sql", __doc__, examples=EXAMPLES, notes=NOTES + "\n" + describe_queries())
    JobOptions(parser).lake(creates=False)
    parser.add_argument("sql", nargs="?", metavar="SQL", help=HELP["sql"])
    parser.add_argument("--query", metavar="NAME", choices=query_names(), help=HELP["query"])
    parser.add_argument("-f", "--file", type=Path, metavar="FILE.sql", help=HELP["file"])
    parser.add_argument("--param", type=param_pair, action="append", metavar="NAME=VALUE", help=HELP["param"])
    parser.add_argument("--format", choices=FORMATS, default="table", help=FORMATS_HELP)
    return parser


def _query_text(args) -> str:
    if args.file:
        if not args.file.is_file():
            raise ValueError(f"-f {args.file}: no such file")
        return args.file.read_text()
    return load_query(args.query) if args.query else args.sql


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    if sum(bool(x) for x in (args.sql, args.query, args.file)) != 1:
        log.error(
            "give exactly one of: SQL text, --query NAME, -f FILE.sql (named queries: %s)", ", ".join(query_names())
        )
        return 2
    lake = Lake.open(args.lake)  # a path without a lake: LakeNotFoundError, one line and exit 2 (run_job)
    warn_if_stale(lake)
    import duckdb

    try:
        sql = _query_text(args)
        result = run_query(lake, sql, parameter_values(sql, dict(args.param or [])))
        if args.format in ("json", "jsonl"):
            check_column_names(result)  # before any output: row objects need distinct names
    except UsageError as error:  # a refused statement, a --param value that does not convert
        return report_error(error, log)
    except (ValueError, duckdb.Error) as error:
        log.error("%s", first_line(error))
        return 2
    write_table(result, args.format, sys.stdout)  # BrokenPipeError (`| head`) propagates to run_job: exit 0
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main, job="sql"))

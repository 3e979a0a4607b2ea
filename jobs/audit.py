"""`facelake audit`: the dataset's recurring questions (the named queries in `queries/`), answered over the lake.

Every question runs on one DuckDB connection over the tables' current versions; nothing is
written to the lake (the audit records no run). Output by --format:
  table, markdown  each question under a heading with its parameter values and row count
  json             one object: {NAME: {"description", "parameters": {NAME: VALUE}, "columns", "rows": [{...}]}}
  jsonl            one line per row: {"query": NAME, "row": {...}} (a question without rows has no line)
  csv              one table per question: with --out DIR, DIR/NAME.csv for each; without --out, the one
                   question of --only NAME on stdout
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
from etl.lake.query import describe_queries, first_line, query_names
from etl.lake.run import Question, plan_questions, run_audit
from jobs.common.answers import output_problem, param_pair, write_answers
from jobs.common.cli_help import job_parser
from jobs.common.logs import setup_logging
from jobs.common.options import JobOptions
from jobs.common.output import FORMATS, FORMATS_HELP
from jobs.common.runner import report_error, run_job

__all__ = ["Question", "build_parser", "main", "plan_questions", "run_audit"]  # the last three for bench/

log = logging.getLogger("facelake.audit")

EXAMPLES = """
# every question, as text tables
facelake audit --lake demo/lake
# the 20 worst videos only, as Markdown
facelake audit --lake demo/lake --only worst_videos --param n=20 --format markdown
# every answer as one CSV file per question
facelake audit --lake demo/lake --format csv --out audit-csv
# every answer as one JSON document
facelake audit --lake demo/lake --format json > audit.json
"""
NOTES = (
    "questions (--only NAME) and their parameters (--param NAME=VALUE sets $NAME in every "
    "selected question that takes it; a value is converted like the default):"
)
HELP = {
    "only": "answer only these questions (listed below); by default every one, in name order",
    "param": "set a question's parameter, e.g. n=20 for worst_videos (repeat for several); "
    "a parameter not given takes its default",
    "out": "with --format csv: write DIR/NAME.csv per question (DIR is created) and nothing to stdout",
}


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser(
        "audit", __doc__, examples=EXAMPLES, notes=textwrap.fill(NOTES, 100) + "\n" + describe_queries()
    )
    JobOptions(parser).lake(creates=False)
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=query_names(), help=HELP["only"])
    parser.add_argument("--param", type=param_pair, action="append", metavar="NAME=VALUE", help=HELP["param"])
    parser.add_argument("--format", choices=FORMATS, default="table", help=FORMATS_HELP)
    parser.add_argument("--out", type=Path, metavar="DIR", help=HELP["out"])
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    names = list(dict.fromkeys(args.only or query_names()))
    problem = output_problem(args.format, args.out, names)
    if problem:
        log.error("%s", problem)
        return 2
    try:
        questions = plan_questions(names, dict(args.param or []))
    except UsageError as error:
        return report_error(error, log)
    lake = Lake.open(args.lake)  # a path without a lake: LakeNotFoundError, one line and exit 2 (run_job)
    warn_if_stale(lake)
    import duckdb

    try:
        tables = run_audit(lake, names, {q.name: q.parameters for q in questions})
    except duckdb.Error as error:  # e.g. a parameter value the question refuses
        log.error("%s", first_line(error))
        return 2
    answers = [(question, table) for question, (_, _, table) in zip(questions, tables)]
    write_answers(answers, args.format, sys.stdout, args.out)  # BrokenPipeError (`| head`): run_job, exit 0
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main, job="audit"))

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
import json
import logging
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from etl.lake.catalog import warn_if_stale
from etl.lake.lake import Lake
from etl.lake.query import (
    connect,
    declared_parameters,
    describe_queries,
    execute,
    first_line,
    load_query,
    query_names,
    query_title,
    sql_literal,
)
from jobs.cli_help import add_lake_option, job_parser
from jobs.output import FORMATS, FORMATS_HELP, iter_rows, row_objects, write_csv, write_table

log = logging.getLogger("facelake.audit")

EXAMPLES = [
    ("every question, as text tables", "facelake audit --lake demo/lake"),
    (
        "the 20 worst videos only, as Markdown",
        "facelake audit --lake demo/lake --only worst_videos --param n=20 --format markdown",
    ),
    ("every answer as one CSV file per question", "facelake audit --lake demo/lake --format csv --out audit-csv"),
    ("every answer as one JSON document", "facelake audit --lake demo/lake --format json > audit.json"),
]


def _param(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param wants name=value, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip().lstrip("$"), value


def build_parser() -> argparse.ArgumentParser:
    notes = (
        textwrap.fill(
            "questions (--only NAME) and their parameters (--param NAME=VALUE sets $NAME in every "
            "selected question that takes it; a value is converted like the default):",
            100,
        )
        + "\n"
        + describe_queries()
    )
    parser = job_parser("audit", __doc__, examples=EXAMPLES, notes=notes)
    add_lake_option(parser, creates=False)
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=query_names(),
        help="answer only these questions (listed below); by default every one, in name order",
    )
    parser.add_argument(
        "--param",
        type=_param,
        action="append",
        metavar="NAME=VALUE",
        help="set a question's parameter, e.g. n=20 for worst_videos (repeat for several); "
        "a parameter not given takes its default",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help=FORMATS_HELP)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="with --format csv: write DIR/NAME.csv per question (DIR is created) and nothing to stdout",
    )
    return parser


@dataclass(frozen=True)
class Question:
    name: str
    title: str
    parameters: dict  # every parameter the query declares -> the value used (given or default)


def plan_questions(names: list[str], given: dict[str, str]) -> list[Question]:
    """The questions to answer with their parameter values; ValueError for a value that does not
    convert or a parameter no selected question takes."""
    questions, used = [], set()
    for name in names:
        sql = load_query(name)
        values = {}
        for parameter in declared_parameters(sql):
            if parameter.name in given:
                values[parameter.name] = parameter.value(given[parameter.name])
                used.add(parameter.name)
            else:
                values[parameter.name] = parameter.default
        questions.append(Question(name, query_title(sql), values))
    unused = sorted(set(given) - used)
    if unused:
        takes = sorted({p for q in questions for p in q.parameters})
        raise ValueError(
            f"--param {', '.join(unused)}: no selected question takes "
            f"{'it' if len(unused) == 1 else 'them'} (they take: {', '.join(takes) or 'none'})"
        )
    return questions


def run_audit(lake: Lake, names: list[str], params: dict[str, dict] | None = None) -> list[tuple[str, str, pa.Table]]:
    """(name, title, Arrow table) per query, all on one DuckDB connection.

    `params`: per query name, its parameter values (a query not in it takes its defaults).
    """
    params = params or {}
    connection = connect(lake)
    try:
        results = []
        for name in names:
            sql = load_query(name)
            results.append((name, query_title(sql), execute(connection, sql, params.get(name))))
        return results
    finally:
        connection.close()


def _parameter_text(question: Question) -> str:
    return "".join(f" ({name}={sql_literal(value)})" for name, value in question.parameters.items())


def _write_human(answers: list[tuple[Question, pa.Table]], fmt: str, out) -> None:
    for question, table in answers:
        rows = f"{table.num_rows} row" + ("" if table.num_rows == 1 else "s")
        heading = f"{question.name}: {question.title}{_parameter_text(question)} ({rows})"
        out.write(f"## {heading}\n\n" if fmt == "markdown" else f"== {heading}\n")
        write_table(table, fmt, out)
        out.write("\n")


def _write_json(answers: list[tuple[Question, pa.Table]], out) -> None:
    document = {
        question.name: {
            "description": question.title,
            "parameters": question.parameters,
            "columns": table.column_names,
            "rows": row_objects(table),
        }
        for question, table in answers
    }
    out.write(json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n")


def _write_jsonl(answers: list[tuple[Question, pa.Table]], out) -> None:
    for question, table in answers:
        for row in iter_rows(table):
            out.write(json.dumps({"query": question.name, "row": row}, ensure_ascii=False, allow_nan=False) + "\n")


def _write_csv_files(answers: list[tuple[Question, pa.Table]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for question, table in answers:
        with open(folder / f"{question.name}.csv", "w", encoding="utf-8", newline="") as file:
            write_csv(table, file)
    log.info("wrote %d CSV files to %s", len(answers), folder)


def _check_output(args, names: list[str]) -> str | None:
    """Why the output options cannot work together, or None."""
    if args.out is not None and args.format != "csv":
        return f"--out writes one CSV file per question; use it with --format csv (not {args.format})"
    if args.format == "csv" and args.out is None and len(names) != 1:
        return (
            "--format csv writes one table: choose one question with --only NAME, "
            "or write one file per question with --out DIR"
        )
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        return f"--out {args.out}: it is a file; give a folder (created if missing)"
    return None


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging

    setup_logging()
    args = build_parser().parse_args(argv)
    names = list(dict.fromkeys(args.only or query_names()))
    problem = _check_output(args, names)
    if problem:
        log.error("%s", problem)
        return 2
    try:
        questions = plan_questions(names, dict(args.param or []))
    except ValueError as error:
        log.error("%s", error)
        return 2
    lake = Lake.open(args.lake)  # a path without a lake: LakeNotFoundError, one line and exit 2 (run_job)
    warn_if_stale(lake)
    import duckdb

    try:
        tables = run_audit(lake, names, {q.name: q.parameters for q in questions})
    except duckdb.Error as error:  # e.g. a parameter value the question refuses
        log.error("%s", first_line(error))
        return 2
    answers = [(question, table) for question, (_, _, table) in zip(questions, tables)]
    # BrokenPipeError (`| head`) propagates from here to run_job: a quiet exit 0
    if args.format in ("table", "markdown"):
        _write_human(answers, args.format, sys.stdout)
    elif args.format == "json":
        _write_json(answers, sys.stdout)
    elif args.format == "jsonl":
        _write_jsonl(answers, sys.stdout)
    elif args.out is not None:
        _write_csv_files(answers, args.out)
    else:
        write_csv(answers[0][1], sys.stdout)
    return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main, job="audit"))

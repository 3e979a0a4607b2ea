"""What `facelake sql` and `facelake audit` share on the command line: `--param NAME=VALUE`, and how
the audit writes its answers, one format each (see jobs/audit.py's docstring).

Writes go straight to the stream: a reader that leaves early (`| head`) raises BrokenPipeError
out of the job (`jobs.common.runner.run_job` turns it into a quiet exit 0).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import IO

import pyarrow as pa

from etl.lake.audit import Question
from etl.lake.query import sql_literal
from jobs.common.output import iter_rows, row_objects, write_csv, write_table

log = logging.getLogger("facelake.audit")

Answers = list[tuple[Question, pa.Table]]


def param_pair(text: str) -> tuple[str, str]:
    """`--param NAME=VALUE` as (NAME, VALUE text); a leading `$` on the name is dropped."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param wants name=value, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip().lstrip("$"), value


def write_answers(answers: Answers, fmt: str, stream: IO[str], folder: Path | None = None) -> None:
    """Every answer in `fmt`; with `folder` (csv only), one DIR/NAME.csv per question instead of `stream`."""
    if fmt in ("table", "markdown"):
        _write_human(answers, fmt, stream)
    elif fmt == "json":
        _write_json(answers, stream)
    elif fmt == "jsonl":
        _write_jsonl(answers, stream)
    elif folder is not None:
        _write_csv_files(answers, folder)
    else:
        write_csv(answers[0][1], stream)


def output_problem(fmt: str, folder: Path | None, names: list[str]) -> str | None:
    """Why the audit's output options (`--format`, `--out`) cannot work together, or None."""
    if folder is not None and fmt != "csv":
        return f"--out writes one CSV file per question; use it with --format csv (not {fmt})"
    if fmt == "csv" and folder is None and len(names) != 1:
        return (
            "--format csv writes one table: choose one question with --only NAME, "
            "or write one file per question with --out DIR"
        )
    if folder is not None and folder.exists() and not folder.is_dir():
        return f"--out {folder}: it is a file; give a folder (created if missing)"
    return None


def _parameter_text(question: Question) -> str:
    return "".join(f" ({name}={sql_literal(value)})" for name, value in question.parameters.items())


def _write_human(answers: Answers, fmt: str, out: IO[str]) -> None:
    for question, table in answers:
        rows = f"{table.num_rows} row" + ("" if table.num_rows == 1 else "s")
        heading = f"{question.name}: {question.title}{_parameter_text(question)} ({rows})"
        out.write(f"## {heading}\n\n" if fmt == "markdown" else f"== {heading}\n")
        write_table(table, fmt, out)
        out.write("\n")


def _write_json(answers: Answers, out: IO[str]) -> None:
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


def _write_jsonl(answers: Answers, out: IO[str]) -> None:
    for question, table in answers:
        for row in iter_rows(table):
            out.write(json.dumps({"query": question.name, "row": row}, ensure_ascii=False, allow_nan=False) + "\n")


def _write_csv_files(answers: Answers, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for question, table in answers:
        with open(folder / f"{question.name}.csv", "w", encoding="utf-8", newline="") as file:
            write_csv(table, file)
    log.info("wrote %d CSV files to %s", len(answers), folder)

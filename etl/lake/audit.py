"""The audit's questions: which named queries to answer, with which parameter values.

`facelake audit` answers every question (or those chosen) on one DuckDB connection
(`etl.lake.run.run_audit`); this module only plans them from the query files' declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl.errors import UsageError
from etl.lake.query import declared_parameters, load_query, query_title

__all__ = ["Question", "plan_questions"]


@dataclass(frozen=True)
class Question:
    """One named query to answer: its name, what it answers, and the parameter values it runs with."""

    name: str
    title: str
    parameters: dict  # every parameter the query declares -> the value used (given or default)


def plan_questions(names: list[str], given: dict[str, str]) -> list[Question]:
    """The questions to answer with their parameter values.

    Args:
        names: the named queries to answer, in order.
        given: parameter values as text (`param` NAME=VALUE), each converted like its default.

    Raises:
        UsageError: a value that does not convert, or a parameter no selected question takes
            (both about the `param` setting).
    """
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
        raise UsageError(
            f"{', '.join(unused)}: no selected question takes "
            f"{'it' if len(unused) == 1 else 'them'} (they take: {', '.join(takes) or 'none'})",
            option="param",
        )
    return questions

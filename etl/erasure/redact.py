"""A person's names out of other jobs' `runs` rows: replaced by "<erased>", the rows kept."""

from __future__ import annotations

import json
import re

import pyarrow as pa

from etl.erasure.footprint import Footprint
from etl.erasure.request import ForgetRequest
from etl.lake.lake import Lake
from schemas import RUNS
from schemas.vocabulary import ErasureKind

__all__ = ["ERASED", "Redactor", "redacted_runs", "redactor_for"]

ERASED = "<erased>"


class Redactor:
    """Replaces the person's names in text: `tokens` wherever they stand as a whole word (a path
    segment, a file stem, a SQL literal), `exact` only as a whole JSON string value (short ids
    such as "007" would otherwise hit unrelated numbers)."""

    def __init__(self, *, tokens: set[str], exact: set[str]) -> None:
        ordered = sorted({t for t in tokens if t}, key=lambda t: (-len(t), t))  # longest first: a photo id whole
        self.pattern = re.compile("|".join(rf"(?<!\w){re.escape(t)}(?!\w)" for t in ordered)) if ordered else None
        self.exact = set(exact) | set(ordered)

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        if value in self.exact:
            return ERASED
        return self.pattern.sub(ERASED, value) if self.pattern else value

    def _walk(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self._walk(v) for k, v in value.items()}
        return value

    def json_text(self, value: str | None) -> str | None:
        """A JSON document with its strings (keys too) redacted; plain text when it is not JSON."""
        if value is None:
            return None
        try:
            document = json.loads(value)
        except ValueError:
            return self.text(value)
        redacted = self._walk(document)
        return value if redacted == document else json.dumps(redacted, sort_keys=True, default=str)


def redactor_for(request: ForgetRequest, found: Footprint) -> Redactor:
    if request.kind == ErasureKind.SUBJECT:
        stems = {v.rsplit("/", 1)[-1] for v in found.video_ids}
        return Redactor(tokens=found.video_ids | stems, exact=found.identities)
    return Redactor(tokens={request.person} | found.photo_ids | found.identities, exact=set())


def redacted_runs(lake: Lake, redactor: Redactor, *, skip_run_id: str | None) -> pa.Table:
    """The `runs` rows (other than `skip_run_id`) that name the person, with those names replaced."""
    if not lake.exists(RUNS):
        return RUNS.schema.empty_table()
    changed = []
    for row in lake.read(RUNS).to_pylist():
        if row["run_id"] == skip_run_id:
            continue
        new = dict(
            row,
            source=redactor.text(row["source"]),
            error=redactor.text(row["error"]),
            args_json=redactor.json_text(row["args_json"]),
            counts_json=redactor.json_text(row["counts_json"]),
        )
        if new != row:
            changed.append(new)
    return pa.Table.from_pylist(changed, schema=RUNS.schema)

"""Read SiW `.face` files (one `x1 y1 x2 y2` line per frame), repairing while reading.

The source file is never modified. Known defects and what we do:
- a line with a missing number, left as a double space (`120  260 310`): the missing
  coordinate is interpolated from the same coordinate of the nearest well-formed lines
  before and after (within `NEIGHBOUR_WINDOW` lines; their mean, or the one that exists).
  With no neighbour it gets 48, the value the original notes put back with
  `sed 's/  / 48 /'`. Interpolation is preferred because the missing number is not
  always 48 and a box moves little between neighbouring frames.
- `0 0 0 0`: the annotator found no face; the frame has no box (not a repair).
- anything else unreadable (wrong count, not integers, x2 <= x1): the line gives no box
  and is recorded as a repair of kind `unparseable`/`invalid_box` with method `dropped`.
- a negative coordinate (a box crossing the top or left edge of the frame) is clamped to
  0 and recorded as `negative_coordinate`/`clamped`; a box wholly left of or above the
  frame gives no box (`invalid_box`, `dropped`). Pixel coordinates are never negative,
  and the box that remains is the part of the annotation that lies in the frame.
- a UTF-8 BOM and CRLF line ends are tolerated and recorded once each.
Every repair is returned as a record: line, kind, original text, position, value, method.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from schemas.vocabulary import FaceBoxSource

NEIGHBOUR_WINDOW = 30
NOTES_FILL_VALUE = 48

Box = tuple[int, int, int, int]


@dataclass
class FaceAnnotations:
    boxes: list[Box | None]  # one per line, None when the line gives no box
    sources: list[str]  # per line: face_file | repaired | zero_box | unparseable | invalid_box
    repairs: list[dict] = field(default_factory=list)

    @property
    def n_lines(self) -> int:
        return len(self.boxes)

    @property
    def n_zero(self) -> int:
        return sum(1 for s in self.sources if s == FaceBoxSource.ZERO_BOX)

    def box_for_frame(self, index: int) -> tuple[Box | None, str]:
        """The box of frame `index` and where it came from (missing_line past the end)."""
        if index >= len(self.boxes):
            return None, FaceBoxSource.MISSING_LINE
        return self.boxes[index], self.sources[index]


def _repair(line: int, kind: str, original: str, *, position=None, value=None, method: str) -> dict:
    return {"line": line, "kind": kind, "original": original, "position": position, "value": value, "method": method}


def parse_face_text(text: str) -> FaceAnnotations:
    repairs: list[dict] = []
    if text.startswith("\ufeff"):
        text = text[1:]
        repairs.append(_repair(1, "bom", "", method="stripped"))
    if "\r\n" in text:
        repairs.append(_repair(1, "crlf", "", method="stripped"))
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start a frame

    boxes: list[Box | None] = []
    sources: list[str] = []
    gaps: list[tuple[int, int, list[int], str]] = []  # (line index, position, known values, original)
    for i, raw in enumerate(lines):
        tokens = raw.strip("\r\t").split(" ")
        # strip leading/trailing empties from stray edge spaces but keep inner ones (the defect)
        while tokens and tokens[0] == "" and len(tokens) > 4:
            tokens.pop(0)
        while tokens and tokens[-1] == "" and len(tokens) > 4:
            tokens.pop()
        numbers = [t for t in tokens if t != ""]
        if (
            len(tokens) == 4
            and len(numbers) == 3
            and all(_is_int(t) for t in numbers)
            and tokens[0] != ""
            and tokens[-1] != ""
        ):
            position = tokens.index("")
            gaps.append((i, position, [int(t) for t in numbers], raw))
            boxes.append(None)
            sources.append(FaceBoxSource.REPAIRED)
            continue
        if len(tokens) != 4 or not all(_is_int(t) for t in tokens):
            boxes.append(None)
            sources.append(FaceBoxSource.UNPARSEABLE)
            repairs.append(_repair(i + 1, "unparseable", raw, method="dropped"))
            continue
        x1, y1, x2, y2 = (int(t) for t in tokens)
        if (x1, y1, x2, y2) == (0, 0, 0, 0):
            boxes.append(None)
            sources.append(FaceBoxSource.ZERO_BOX)
            continue
        box, source, fixes = _checked_box(i + 1, raw, (x1, y1, x2, y2))
        boxes.append(box)
        sources.append(source)
        repairs.extend(fixes)

    for i, position, known, raw in gaps:
        value, method = _fill_value(boxes, sources, i, position)
        x1, y1, x2, y2 = known[:position] + [value] + known[position:]
        if x2 <= x1 or y2 <= y1:
            # the filled value does not give a box: drop the line rather than invent one
            sources[i] = FaceBoxSource.INVALID_BOX
            repairs.append(_repair(i + 1, "missing_number", raw, position=position, value=None, method="dropped"))
            continue
        repairs.append(_repair(i + 1, "missing_number", raw, position=position, value=value, method=method))
        box, source, fixes = _checked_box(i + 1, raw, (x1, y1, x2, y2))
        boxes[i], sources[i] = box, FaceBoxSource.REPAIRED if source == FaceBoxSource.FACE_FILE else source
        repairs.extend(fixes)
    repairs.sort(key=lambda r: (r["line"], r["kind"]))
    return FaceAnnotations(boxes=boxes, sources=sources, repairs=repairs)


def _checked_box(line: int, raw: str, box: Box) -> tuple[Box | None, str, list[dict]]:
    """(box or None, source, repairs) of a line holding four integers other than `0 0 0 0`."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1 or x2 <= 0 or y2 <= 0:
        # wrong corner order, or wholly left of / above the frame: no usable box
        return None, FaceBoxSource.INVALID_BOX, [_repair(line, FaceBoxSource.INVALID_BOX, raw, method="dropped")]
    fixes = [
        _repair(line, "negative_coordinate", raw, position=p, value=0, method="clamped")
        for p, v in enumerate(box)
        if v < 0
    ]
    if not fixes:
        return box, FaceBoxSource.FACE_FILE, []
    return (max(0, x1), max(0, y1), x2, y2), FaceBoxSource.REPAIRED, fixes


def _fill_value(boxes: list, sources: list[str], index: int, position: int) -> tuple[int, str]:
    def nearest(step: int) -> int | None:
        j = index + step
        while 0 <= j < len(boxes) and abs(j - index) <= NEIGHBOUR_WINDOW:
            if sources[j] == FaceBoxSource.FACE_FILE:
                return boxes[j][position]
            j += step
        return None

    before, after = nearest(-1), nearest(+1)
    found = [v for v in (before, after) if v is not None]
    if not found:
        return NOTES_FILL_VALUE, "notes_48"
    return math.floor(sum(found) / len(found) + 0.5), "interpolated"  # half rounds up


_INT_TOKEN = re.compile(r"-?[0-9]+")


def _is_int(token: str) -> bool:
    return _INT_TOKEN.fullmatch(token) is not None


_COORDINATES = ("x1", "y1", "x2", "y2")


def describe_repairs(repairs: list[dict], *, limit: int = 3) -> str:
    """The repairs of one `.face` in words, for logs and run summaries (the first `limit` lines)."""
    grouped: list[list[dict]] = []
    for repair in repairs:  # one entry per line and kind: a line's clamped coordinates together
        if grouped and (grouped[-1][0]["line"], grouped[-1][0]["kind"]) == (repair["line"], repair["kind"]):
            grouped[-1].append(repair)
        else:
            grouped.append([repair])
    parts = [_describe_repair(group) for group in grouped[:limit]]
    if len(grouped) > limit:
        parts.append(f"{len(grouped) - limit} more")
    return "; ".join(parts)


def _describe_repair(group: list[dict]) -> str:
    repair = group[0]
    kind, position, value = repair["kind"], repair["position"], repair["value"]
    if kind == "bom":
        return "UTF-8 BOM ignored"
    if kind == "crlf":
        return "CRLF line ends read as LF"
    where = f"line {repair['line']} {repair['original']!r}"
    if kind == "missing_number":
        if value is None:
            return f"{where}: missing {_COORDINATES[position]} gives no box, dropped"
        return f"{where}: missing {_COORDINATES[position]} set to {value} ({repair['method']})"
    if kind == "negative_coordinate":
        names = ", ".join(_COORDINATES[r["position"]] for r in group)
        return f"{where}: negative {names} clamped to 0"
    if kind == FaceBoxSource.INVALID_BOX:
        return f"{where}: not a box in the frame (x2 <= x1, y2 <= y1 or wholly above/left of it), dropped"
    if kind == "unparseable":
        return f"{where}: not four integers, dropped"
    return f"{where}: {kind} ({repair['method']})"


def read_face_file(path: Path) -> FaceAnnotations:
    """Parse a `.face` file; raises OSError/UnicodeDecodeError for unreadable files."""
    return parse_face_text(path.read_bytes().decode("utf-8"))

"""SiW naming: `{Train,Test}/{live,spoof}/SSS/SSS-sensor-type-medium-session.mov`.

Both name forms of the real data are accepted: `X.mov` and the 16 Test videos named
`X.m.mov`; so is `.mp4` in their place (`X.mp4`, `X.m.mp4`), which the official SiW page
also allows. The video id is the canonical relative path without extension
(`Train/live/003/003-1-1-1-1`), the same for every form: a tree holding two of them for one
stem holds one SiW video twice (the scan keeps the first by `VIDEO_FORM_ORDER` and marks the
others `duplicate_name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from etl.errors import UsageError
from schemas.vocabulary import AttackType

NAME_PATTERN = re.compile(
    r"^(?P<subject>\d{3})-(?P<sensor>\d+)-(?P<type>\d+)-(?P<medium>\d+)-(?P<session>\d+)(?P<m>\.m)?"
    r"(?P<suffix>\.(?:mov|mp4))$",
    re.IGNORECASE,
)
VIDEO_SUFFIXES = (".mov", ".mp4")  # the video files a SiW tree holds (any case)
# name forms by preference: when one stem has several, the first keeps the canonical video id
VIDEO_FORM_ORDER = ("plain", "mp4", "m_mov", "m_mp4")
ATTACK_TYPES = {1: AttackType.LIVE, 2: AttackType.PRINT, 3: AttackType.REPLAY}
SPLITS = {"train": "train", "test": "test"}
LABELS = ("live", "spoof")


class SiwNameError(UsageError):
    """A path that does not follow the SiW layout; the message says what is wrong (a `UsageError`, so a
    ValueError as before; the scan turns it into a `bad_name` row)."""


@dataclass(frozen=True)
class SiwName:
    video_id: str
    name_form: str  # plain (X.mov) | m_mov (X.m.mov) | mp4 (X.mp4) | m_mp4 (X.m.mp4)
    split: str  # train | test
    label: str  # live | spoof
    attack_type: str  # live | print | replay
    subject: int
    sensor: int
    type_id: int
    medium: int
    session: int
    stem: str  # file name without `.mov` / `.m.mov` / `.mp4` / `.m.mp4`


def parse_siw_path(rel_path: str) -> SiwName:
    """Parse a path relative to the source root; raise SiwNameError with the reason."""
    path = PurePosixPath(rel_path)
    match = NAME_PATTERN.match(path.name)
    if not match:
        raise SiwNameError(f"name {path.name!r} does not match SSS-sensor-type-medium-session.mov (or .mp4)")
    parts = path.parts
    if len(parts) < 4:
        raise SiwNameError(f"{rel_path!r} is not under {{Train,Test}}/{{live,spoof}}/SSS/")
    split_dir, label_dir, subject_dir = parts[-4], parts[-3], parts[-2]
    split = SPLITS.get(split_dir.lower())
    if split is None:
        raise SiwNameError(f"split folder {split_dir!r} is neither Train nor Test")
    label = label_dir.lower()
    if label not in LABELS:
        raise SiwNameError(f"label folder {label_dir!r} is neither live nor spoof")
    type_id = int(match["type"])
    attack_type = ATTACK_TYPES.get(type_id)
    if attack_type is None:
        raise SiwNameError(f"type {type_id} in {path.name!r} is not 1 (live), 2 (print) or 3 (replay)")
    if (attack_type == "live") != (label == "live"):
        raise SiwNameError(f"type {type_id} ({attack_type}) in {path.name!r} contradicts its folder {label_dir!r}")
    if subject_dir != match["subject"]:
        raise SiwNameError(f"subject {match['subject']} in {path.name!r} contradicts its folder {subject_dir!r}")
    stem = path.name[: match.start("m")] if match["m"] else path.name[: match.start("suffix")]
    video_id = str(PurePosixPath(*parts[:-1], stem))
    return SiwName(
        video_id=video_id,
        name_form=_name_form(bool(match["m"]), match["suffix"].lower()),
        split=split,
        label=label,
        attack_type=attack_type,
        subject=int(match["subject"]),
        sensor=int(match["sensor"]),
        type_id=type_id,
        medium=int(match["medium"]),
        session=int(match["session"]),
        stem=stem,
    )


def _name_form(m_form: bool, suffix: str) -> str:
    """`plain`, `m_mov`, `mp4` or `m_mp4` (see `SiwName.name_form`)."""
    if suffix == ".mov":
        return "m_mov" if m_form else "plain"
    return "m_mp4" if m_form else "mp4"


def video_suffix(file_name: str) -> str | None:
    """The video suffix `file_name` ends with (`.mov`, `.mp4`, in the name's own case), or None."""
    lower = file_name.lower()
    return next((file_name[-len(s) :] for s in VIDEO_SUFFIXES if lower.endswith(s)), None)


def form_rank(file_name: str) -> int:
    """Where a file's name form comes in `VIDEO_FORM_ORDER` (plain `.mov` first), judged by its name alone
    (names that are no SiW name rank after every form)."""
    lower = file_name.lower()
    suffix = video_suffix(file_name)
    if suffix is None:
        return len(VIDEO_FORM_ORDER)
    form = _name_form(lower[: -len(suffix)].endswith(".m"), suffix.lower())
    return VIDEO_FORM_ORDER.index(form)

"""SiW naming: `{Train,Test}/{live,spoof}/SSS/SSS-sensor-type-medium-session.mov`.

Both name forms of the real data are accepted: `X.mov` and the 16 Test videos named
`X.m.mov`. The video id is the canonical relative path without extension
(`Train/live/003/003-1-1-1-1`), the same for both forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from etl.errors import UsageError
from schemas.vocabulary import AttackType

NAME_PATTERN = re.compile(
    r"^(?P<subject>\d{3})-(?P<sensor>\d+)-(?P<type>\d+)-(?P<medium>\d+)-(?P<session>\d+)(?P<m>\.m)?\.mov$",
    re.IGNORECASE,
)
ATTACK_TYPES = {1: AttackType.LIVE, 2: AttackType.PRINT, 3: AttackType.REPLAY}
SPLITS = {"train": "train", "test": "test"}
LABELS = ("live", "spoof")


class SiwNameError(UsageError):
    """A path that does not follow the SiW layout; the message says what is wrong (a `UsageError`, so a
    ValueError as before; the scan turns it into a `bad_name` row)."""


@dataclass(frozen=True)
class SiwName:
    video_id: str
    name_form: str  # plain | m_mov
    split: str  # train | test
    label: str  # live | spoof
    attack_type: str  # live | print | replay
    subject: int
    sensor: int
    type_id: int
    medium: int
    session: int
    stem: str  # file name without `.mov` / `.m.mov`


def parse_siw_path(rel_path: str) -> SiwName:
    """Parse a path relative to the source root; raise SiwNameError with the reason."""
    path = PurePosixPath(rel_path)
    match = NAME_PATTERN.match(path.name)
    if not match:
        raise SiwNameError(f"name {path.name!r} does not match SSS-sensor-type-medium-session.mov")
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
    stem = path.name[: match.start("m")] if match["m"] else path.name[: -len(".mov")]
    video_id = str(PurePosixPath(*parts[:-1], stem))
    return SiwName(
        video_id=video_id,
        name_form="m_mov" if match["m"] else "plain",
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

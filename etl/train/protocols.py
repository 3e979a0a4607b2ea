"""SiW evaluation protocols: which `frames` rows train, validate and test each protocol.

- P1: train on the first `p1_frames` (60) frames of every training video (all attack
  types); test on every frame of every test video.
- P2.K (K = 1..4), replay attacks, leave one medium out: train on live + replay videos of
  the train split whose medium != K; test on live + replay videos of the test split whose
  medium == K. Print videos are not used.
- P3.K (K = 1, 2), cross attack type: P3.1 trains on live + print (train split) and tests
  on live + replay (test split); P3.2 is the reverse.

Only rows with `det_status == 'ok'` are used (the others have no aligned face). Live
videos are used whatever their medium; a replay row with no medium belongs to no P2 fold.

Validation is split off the protocol's training rows by subject, never from the test
split: no subject has rows in both train and validation. P1 validates on the same first
`p1_frames` frames of the validation subjects' videos by default (`p1_validation_frames =
"subset"`); "all" validates on every frame of those videos instead, as the dev set of Idiap's
`bob.db.siw` does (held-out training subjects with full videos). P2 and P3 train, and so
validate, on whole videos.

The choice of validation subjects is deterministic for a seed and a fraction:
round(fraction * subjects), at least 1 and never all of them. Subjects that have both live
and attack rows in the training part are drawn first (in a seeded random order), so that
validation can choose a decision threshold.

Every part must hold live rows and attack rows; otherwise `split_protocol` raises a
ValueError naming the protocol, the part and what is missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.vocabulary import DetStatus, P1ValidationFrames, values

log = logging.getLogger(f"facelake.{__name__}")

PROTOCOL_FOLDS: dict[str, tuple[int, ...]] = {"p1": (), "p2": (1, 2, 3, 4), "p3": (1, 2)}
REQUIRED_COLUMNS = ("video_id", "frame_index", "split", "label", "attack_type", "subject", "medium", "det_status")
ATTACK_TYPES = ("live", "print", "replay")
PARTS = ("train", "validation", "test")
ALLOWED_FORMS = "'p1', 'p2:K' (K = 1..4), 'p3:K' (K = 1..2), 'p2' (all 4 folds), 'p3' (both folds) or 'all'"
# P3 fold -> (attack type trained on, attack type tested on)
P3_ATTACKS = {1: ("print", "replay"), 2: ("replay", "print")}


@dataclass(frozen=True)
class Protocol:
    """One SiW protocol fold: `Protocol("p2", 3)` is P2.3; P1 has no fold."""

    name: str  # p1 | p2 | p3
    fold: int | None  # p2: 1..4, p3: 1..2, p1: None

    def __post_init__(self) -> None:
        if self.name not in PROTOCOL_FOLDS:
            raise ValueError(f"protocol name {self.name!r} is not one of {', '.join(PROTOCOL_FOLDS)}")
        folds = PROTOCOL_FOLDS[self.name]
        if not folds:
            if self.fold is not None:
                raise ValueError(f"protocol {self.name} has no folds; got fold={self.fold!r} (use fold=None)")
        elif isinstance(self.fold, bool) or not isinstance(self.fold, int) or self.fold not in folds:
            raise ValueError(f"protocol {self.name} needs fold in {list(folds)}; got fold={self.fold!r}")

    @property
    def label(self) -> str:
        """`P1`, `P2.3`, `P3.1`."""
        return self.name.upper() if self.fold is None else f"{self.name.upper()}.{self.fold}"


def all_protocols() -> list[Protocol]:
    """P1, P2.1-P2.4, P3.1-P3.2."""
    out = [Protocol("p1", None)]
    out += [Protocol("p2", k) for k in PROTOCOL_FOLDS["p2"]]
    out += [Protocol("p3", k) for k in PROTOCOL_FOLDS["p3"]]
    return out


def parse_protocols(text: str) -> list[Protocol]:
    """Parse a comma-separated list of protocol forms (case-insensitive), in order, without
    duplicates: 'p1', 'p2:K', 'p3:K', 'p2' (all folds), 'p3' (both folds), 'all'."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"no protocol given ({text!r}); use {ALLOWED_FORMS}, comma-separated")
    out: list[Protocol] = []
    for raw in text.split(","):
        item = raw.strip().lower()
        for protocol in _parse_one(item, raw, text):
            if protocol not in out:
                out.append(protocol)
    return out


def _parse_one(item: str, raw: str, text: str) -> list[Protocol]:
    where = f"protocol {raw.strip()!r} in {text!r}"
    if not item:
        raise ValueError(f"empty protocol entry in {text!r}; use {ALLOWED_FORMS}, comma-separated")
    if item == "all":
        return all_protocols()
    name, sep, fold_text = item.partition(":")
    name = name.strip()
    if name not in PROTOCOL_FOLDS:
        raise ValueError(f"unknown {where}; use {ALLOWED_FORMS}")
    folds = PROTOCOL_FOLDS[name]
    if not sep:
        return [Protocol(name, None)] if not folds else [Protocol(name, k) for k in folds]
    if not folds:
        raise ValueError(f"{where}: {name} has no folds; use {ALLOWED_FORMS}")
    fold_text = fold_text.strip()
    if not fold_text.isdigit() or int(fold_text) not in folds:
        raise ValueError(f"{where}: fold must be one of {list(folds)}; use {ALLOWED_FORMS}")
    return [Protocol(name, int(fold_text))]


@dataclass(frozen=True)
class ProtocolSplit:
    """The train, validation and test rows of one protocol (all input columns kept)."""

    protocol: Protocol
    train: pa.Table
    validation: pa.Table
    test: pa.Table
    validation_subjects: tuple[int, ...]
    # which frames of the validation subjects' videos validate: "all", or P1's "frame_index < 60"
    validation_frames: str = "all"

    def part(self, name: str) -> pa.Table:
        if name not in PARTS:
            raise ValueError(f"part {name!r} is not one of {', '.join(PARTS)}")
        return getattr(self, name)

    def counts(self) -> dict:
        """Per part: rows, rows per attack type (live/print/replay always present),
        distinct videos and distinct subjects; plus the protocol label, the
        validation subjects and which of their frames validate (for the model card)."""
        out: dict = {
            "protocol": self.protocol.label,
            "validation_subjects": list(self.validation_subjects),
            "validation_frames": self.validation_frames,
        }
        for name in PARTS:
            out[name] = _part_counts(self.part(name))
        return out


def _part_counts(table: pa.Table) -> dict:
    by_type = {attack: 0 for attack in ATTACK_TYPES}
    if table.num_rows:
        counts = pc.value_counts(table["attack_type"])
        for entry in counts.to_pylist():
            key = entry["values"] if entry["values"] is not None else "unknown"
            by_type[key] = by_type.get(key, 0) + int(entry["counts"])
    return {
        "rows": table.num_rows,
        "rows_by_attack_type": by_type,
        "videos": pc.count_distinct(table["video_id"]).as_py() if table.num_rows else 0,
        "subjects": pc.count_distinct(table["subject"]).as_py() if table.num_rows else 0,
    }


def split_protocol(
    frames: pa.Table,
    protocol: Protocol,
    *,
    validation_fraction: float = 0.2,
    seed: int = 0,
    p1_frames: int = 60,
    p1_validation_frames: str = P1ValidationFrames.SUBSET,
    validation_subjects: tuple[int, ...] | None = None,
) -> ProtocolSplit:
    """The train / validation / test rows of `frames` for `protocol` (see module doc).

    `p1_validation_frames`: for P1, "subset" validates on the validation subjects' first `p1_frames`
    frames (as training uses), "all" on every frame of their training-split videos.
    `validation_subjects`: the subjects a trained model validated on (its metrics.json), instead of
    choosing them by `seed` and `validation_fraction`: the model's own parts again.
    """
    if not isinstance(protocol, Protocol):
        raise TypeError(f"protocol must be a Protocol (see parse_protocols); got {type(protocol).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in frames.column_names]
    if missing:
        raise ValueError(
            f"frames table lacks column(s) {', '.join(missing)}; split_protocol needs {', '.join(REQUIRED_COLUMNS)}"
        )
    if (
        isinstance(validation_fraction, bool)
        or not isinstance(validation_fraction, (int, float))
        or not 0 < validation_fraction < 1
    ):
        raise ValueError(f"validation_fraction must be a number strictly between 0 and 1; got {validation_fraction!r}")
    if isinstance(p1_frames, bool) or not isinstance(p1_frames, int) or p1_frames < 1:
        raise ValueError(f"p1_frames must be a positive integer; got {p1_frames!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    if p1_validation_frames not in values(P1ValidationFrames):
        raise ValueError(
            f"p1_validation_frames must be one of {', '.join(values(P1ValidationFrames))}; got {p1_validation_frames!r}"
        )

    ok = _mask(pc.equal(frames["det_status"], DetStatus.OK))
    is_train = pc.and_(ok, _mask(pc.equal(frames["split"], "train")))
    is_test = pc.and_(ok, _mask(pc.equal(frames["split"], "test")))
    train_mask, test_mask, train_attacks, test_attacks, why = _masks(frames, protocol, p1_frames)
    pool = frames.filter(pc.and_(is_train, train_mask))
    test = frames.filter(pc.and_(is_test, test_mask))

    _require_part(protocol, "train", pool, train_attacks, why["train"])
    _require_part(protocol, "test", test, test_attacks, why["test"])

    if pool["subject"].null_count:
        bad = pool.filter(pc.is_null(pool["subject"]))["video_id"]
        raise ValueError(
            f"{protocol.label}: {bad.length()} training row(s) have no subject (e.g. video {bad[0].as_py()!r}); "
            "validation is split by subject, so every training row needs one"
        )
    if validation_subjects is None:
        validation_subjects = choose_validation_subjects(
            pool, fraction=validation_fraction, seed=seed, protocol=protocol
        )
    validation_subjects = tuple(int(s) for s in validation_subjects)
    subject_set = pa.array(validation_subjects, type=pool["subject"].type)
    in_validation = pc.is_in(pool["subject"], value_set=subject_set)
    train = pool.filter(pc.invert(in_validation))
    validation_frames = "all"
    if protocol.name == "p1" and p1_validation_frames == P1ValidationFrames.ALL:
        # every ok frame of the validation subjects' training-split videos (P1 uses every attack type)
        validation = frames.filter(pc.and_(is_train, _mask(pc.is_in(frames["subject"], value_set=subject_set))))
        validation_why = f"all frames of train-split videos, subjects {list(validation_subjects)}"
    else:
        validation = pool.filter(in_validation)
        validation_why = f"{why['train']}, subjects {list(validation_subjects)}"
        if protocol.name == "p1":
            validation_frames = f"frame_index < {p1_frames}"
    _require_part(protocol, "validation", validation, train_attacks, validation_why)
    _require_part(protocol, "train", train, train_attacks, f"{why['train']}, without the validation subjects")

    leaked = set(pc.unique(pool["subject"]).to_pylist()) & set(pc.unique(test["subject"]).to_pylist())
    if leaked:
        log.warning("%s: subject(s) %s appear in both the train and test splits", protocol.label, sorted(leaked))
    split = ProtocolSplit(protocol, train, validation, test, validation_subjects, validation_frames)
    counts = split.counts()
    log.info(
        "%s: train %d rows / %d videos, validation %d rows / %d videos (subjects %s; frames: %s), test %d rows / "
        "%d videos",
        protocol.label,
        counts["train"]["rows"],
        counts["train"]["videos"],
        counts["validation"]["rows"],
        counts["validation"]["videos"],
        list(validation_subjects),
        validation_frames,
        counts["test"]["rows"],
        counts["test"]["videos"],
    )
    return split


def _mask(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A boolean mask with nulls counted as False."""
    return pc.fill_null(array, False)


def _is_type(frames: pa.Table, attack: str):
    return _mask(pc.equal(frames["attack_type"], attack))


def _masks(frames: pa.Table, protocol: Protocol, p1_frames: int):
    """(train mask, test mask, attack types expected in train, in test, descriptions);
    the masks select by protocol only, not by split or det_status."""
    live = _is_type(frames, "live")
    if protocol.name == "p1":
        train = _mask(pc.less(frames["frame_index"], p1_frames))
        test = pa.array(np.ones(frames.num_rows, dtype=bool))
        attacks = ("print", "replay")
        why = {"train": f"frame_index < {p1_frames} of train-split videos", "test": "all frames of test-split videos"}
        return train, test, attacks, attacks, why
    if protocol.name == "p2":
        k = protocol.fold
        replay = _is_type(frames, "replay")
        medium_k = _mask(pc.equal(frames["medium"], k))
        medium_other = _mask(pc.not_equal(frames["medium"], k))
        train = pc.or_(live, pc.and_(replay, medium_other))
        test = pc.or_(live, pc.and_(replay, medium_k))
        why = {
            "train": f"live + replay videos with medium != {k} of the train split",
            "test": f"live + replay videos with medium == {k} of the test split",
        }
        return train, test, ("replay",), ("replay",), why
    train_attack, test_attack = P3_ATTACKS[protocol.fold]
    train = pc.or_(live, _is_type(frames, train_attack))
    test = pc.or_(live, _is_type(frames, test_attack))
    why = {
        "train": f"live + {train_attack} videos of the train split",
        "test": f"live + {test_attack} videos of the test split",
    }
    return train, test, (train_attack,), (test_attack,), why


def _require_part(protocol: Protocol, part: str, table: pa.Table, attacks: tuple[str, ...], why: str) -> None:
    """Every part needs live rows and attack rows (det_status ok)."""
    if table.num_rows == 0:
        raise ValueError(f"{protocol.label}: the {part} part would be empty: no rows with det_status 'ok' among {why}")
    types = set(pc.unique(table["attack_type"]).to_pylist())
    if "live" not in types:
        raise ValueError(f"{protocol.label}: the {part} part has no live rows (det_status 'ok') among {why}")
    if not types & set(attacks):
        raise ValueError(
            f"{protocol.label}: the {part} part has no {' or '.join(attacks)} attack rows (det_status 'ok') among {why}"
        )


def choose_validation_subjects(
    pool: pa.Table, *, fraction: float, seed: int, protocol: Protocol | None = None
) -> tuple[int, ...]:
    """The subjects held out for validation from the training rows `pool` (sorted).

    round(fraction * n) of the n subjects, at least 1 and at most n - 1; subjects with
    both live and attack rows are drawn first, each group in a seeded random order.
    """
    name = protocol.label if protocol is not None else "validation split"
    subjects = sorted(int(s) for s in pc.unique(pool["subject"]).to_pylist() if s is not None)
    if len(subjects) < 2:
        raise ValueError(
            f"{name}: the validation part would be empty: validation is split off the training rows by subject "
            f"and needs at least 2 subjects there; found {len(subjects)} ({subjects})"
        )
    count = max(1, min(len(subjects) - 1, int(round(fraction * len(subjects)))))
    live_subjects = set(pool.filter(_is_type(pool, "live"))["subject"].to_pylist())
    attack_subjects = set(pool.filter(pc.invert(_is_type(pool, "live")))["subject"].to_pylist())
    both = [s for s in subjects if s in live_subjects and s in attack_subjects]
    rest = [s for s in subjects if s not in both]
    rng = np.random.default_rng(seed)
    order = [both[i] for i in rng.permutation(len(both))] + [rest[i] for i in rng.permutation(len(rest))]
    return tuple(sorted(order[:count]))

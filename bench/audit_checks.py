"""The audit benchmark's answer checks: every facelake answer against the notes' (baseline) answer.

Both read the same content, so every answer must be equal: integers exactly, averages
and quantiles to 1e-9 relative. Each comparison is a `Check`; a check that fails gives a
problem line naming the answer, the first differences and both values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pyarrow as pa

WORST = 10
SHOWN = 3  # differences named per failing check
REL_TOL = 1e-9
# the notes' describe() keys -> facelake's column names (subset SQL, lost_frames_distribution)
DESCRIBE_SUBSET = {
    "count": "count",
    "mean": "mean",
    "std": "std",
    "min": "min",
    "25%": "q25",
    "50%": "q50",
    "75%": "q75",
    "max": "max",
}
DESCRIBE_QUERY = {**DESCRIBE_SUBSET, "25%": "p25", "50%": "p50", "75%": "p75"}
# the tree's folders -> the lake column holding the same images; its split folders -> split values
TREE_COLUMNS = {"detect_frame": "aligned", "orign_frame": "crop"}
TREE_SPLITS = {"Train": "train", "Test": "test"}


class BenchFailure(Exception):
    """A facelake query failed or an answer differs from the baseline's: the figures are not valid."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Check:
    what: str
    facelake: str  # a short summary of facelake's answer
    baseline: str
    ok: bool
    differences: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)


def _same_number(a: object, b: object) -> bool:
    """Equal numbers (NULL and NaN count as one missing value)."""
    missing = [x is None or (isinstance(x, float) and math.isnan(x)) for x in (a, b)]
    if any(missing):
        return all(missing)
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=REL_TOL)


def _mapping_differences(facelake: dict, baseline: dict, same=lambda a, b: a == b) -> list[str]:
    """'key: facelake x, baseline y' for every key whose values differ (a missing key is None)."""
    keys = sorted(set(facelake) | set(baseline), key=str)
    return [
        f"{key}: facelake {facelake.get(key)}, baseline {baseline.get(key)}"
        for key in keys
        if not same(facelake.get(key), baseline.get(key))
    ]


def _list_differences(facelake: list, baseline: list) -> list[str]:
    """'position i: facelake x, baseline y' where ordered lists differ (a missing entry is None)."""
    length = max(len(facelake), len(baseline))
    padded = [
        (facelake[i] if i < len(facelake) else None, baseline[i] if i < len(baseline) else None) for i in range(length)
    ]
    return [f"position {i + 1}: facelake {a}, baseline {b}" for i, (a, b) in enumerate(padded) if a != b]


def _check(what: str, facelake: str, baseline: str, differences: list[str]) -> Check:
    return Check(
        what=what,
        facelake=facelake,
        baseline=baseline,
        ok=not differences,
        differences=tuple(differences[:SHOWN])
        + ((f"... {len(differences) - SHOWN} more",) if len(differences) > SHOWN else ()),
    )


def _notes_counts(notes: dict) -> dict[str, tuple[int, int]]:
    table = notes["table"]
    return {name: (int(row.original), int(row.detect)) for name, row in table.iterrows()}


def _notes_describe_all(notes: dict) -> dict:
    """describe() of sub over the notes' table before it drops the videos without a detection
    (what lost_frames_distribution answers)."""
    table = notes["table"]
    return (table["original"] - table["detect"]).describe().to_dict()


def _describe_differences(facelake: dict, baseline: dict, columns: dict[str, str]) -> list[str]:
    return [
        f"{key}: facelake {facelake.get(column)}, baseline {baseline.get(key)}"
        for key, column in columns.items()
        if not _same_number(facelake.get(column), baseline.get(key))
    ]


def _du_by_partition(notes: dict) -> dict[tuple[str, str, str], int]:
    """The notes' du as (lake column, split, label) -> bytes."""
    out = {}
    for key, size in notes["du"].items():
        folder, split, label = key.split("/")
        out[(TREE_COLUMNS[folder], TREE_SPLITS[split], label)] = size
    return out


def _lake_bytes(rows: list[dict], columns: dict[str, str]) -> dict[tuple[str, str, str], int]:
    """Rows with split, label and byte columns as (lake column, split, label) -> bytes."""
    return {
        (column, row["split"], row["label"]): int(row[field] or 0) for row in rows for column, field in columns.items()
    }


def _with_zeros(a: dict, b: dict) -> tuple[dict, dict]:
    """Both mappings over the union of their keys, 0 where a key is missing."""
    keys = set(a) | set(b)
    return {k: a.get(k, 0) for k in keys}, {k: b.get(k, 0) for k in keys}


def _query(tables: dict[str, pa.Table], name: str) -> list[dict]:
    if name not in tables:
        raise KeyError(name)
    return tables[name].to_pylist()


def subset_checks(notes: dict, subset: dict) -> list[Check]:
    """The notes' questions asked in facelake SQL on one connection (bench/audit.py SUBSET_SQL)."""
    counts = _notes_counts(notes)
    du_f, du_b = _with_zeros(
        _lake_bytes(subset["size"], {"aligned": "aligned_bytes", "crop": "crop_bytes"}), _du_by_partition(notes)
    )
    return [
        _check(
            "per-video original, detect (subset SQL)",
            f"{len(subset['counts'])} videos",
            f"{len(counts)} videos",
            _mapping_differences(subset["counts"], counts),
        ),
        _check(
            "no-detection videos (subset SQL)",
            f"{len(subset['no_detection'])} videos",
            f"{len(notes['no_detection'])} videos",
            _list_differences(sorted(subset["no_detection"]), sorted(notes["no_detection"])),
        ),
        _check(
            "describe() of sub, videos with a detection (subset SQL)",
            f"count {subset['describe']['count']}, mean {subset['describe']['mean']:.4f}",
            f"count {notes['describe']['count']:.0f}, mean {notes['describe']['mean']:.4f}",
            _describe_differences(subset["describe"], notes["describe"], DESCRIBE_SUBSET),
        ),
        _check(
            f"worst {WORST} videos, in order (subset SQL)",
            f"{len(subset['worst'])} videos",
            f"{len(notes['worst'])} videos",
            _list_differences(subset["worst"], notes["worst"]),
        ),
        _check(
            "image bytes per split and label: aligned = detect_frame, crop = orign_frame (subset SQL vs du)",
            f"{sum(du_f.values()):,} bytes",
            f"{sum(du_b.values()):,} bytes",
            _mapping_differences(du_f, du_b),
        ),
    ]


def audit_query_checks(notes: dict, tables: dict[str, pa.Table], worst_extra: list[tuple]) -> list[Check]:
    """The full audit's queries that answer a question the notes answer."""
    counts = _notes_counts(notes)
    per_video = {r["video_id"]: (r["original"], r["detect"]) for r in _query(tables, "video_detection")}
    empty = sorted(r["video_id"] for r in _query(tables, "videos_without_detection"))
    distribution = _query(tables, "lost_frames_distribution")[0]
    describe_all = _notes_describe_all(notes)
    worst = [row for row in worst_extra if row[0] not in set(empty)][:WORST]
    sized = [r for r in _query(tables, "image_bytes_per_row") if r["split"] != "(all)"]
    du_f, du_b = _with_zeros(
        _lake_bytes(sized, {"aligned": "aligned_total_bytes", "crop": "crop_total_bytes"}), _du_by_partition(notes)
    )
    return [
        _check(
            "per-video original, detect (video_detection)",
            f"{len(per_video)} videos",
            f"{len(counts)} videos",
            _mapping_differences(per_video, counts),
        ),
        _check(
            "no-detection videos (videos_without_detection)",
            f"{len(empty)} videos",
            f"{len(notes['no_detection'])} videos",
            _list_differences(empty, sorted(notes["no_detection"])),
        ),
        _check(
            "describe() of sub, every video (lost_frames_distribution)",
            f"count {distribution['count']}, mean {distribution['mean']:.4f}",
            f"count {describe_all['count']:.0f}, mean {describe_all['mean']:.4f}",
            _describe_differences(distribution, describe_all, DESCRIBE_QUERY),
        ),
        _check(
            f"worst {WORST} videos, in order (worst_videos less the no-detection videos)",
            f"{len(worst)} videos",
            f"{len(notes['worst'])} videos",
            _list_differences(worst, notes["worst"]),
        ),
        _check(
            "image bytes per split and label (image_bytes_per_row vs du)",
            f"{sum(du_f.values()):,} bytes",
            f"{sum(du_b.values()):,} bytes",
            _mapping_differences(du_f, du_b),
        ),
    ]


def compare_answers(
    notes: dict, subset: dict, tables: dict[str, pa.Table], worst_extra: list[tuple]
) -> tuple[list[Check], list[str]]:
    """(every check, one problem line per failing check or missing query)."""
    try:
        checks = subset_checks(notes, subset) + audit_query_checks(notes, tables, worst_extra)
    except KeyError as missing:
        return [], [f"query {missing} is not in queries/ any more: its answer cannot be compared with the baseline's"]
    problems = [f"answers differ: {c.what}: " + "; ".join(c.differences) for c in checks if not c.ok]
    return checks, problems


def estimate_against_exact(estimate: float, exact: int) -> dict:
    """The notes' sampled size estimate next to the exact bytes (an estimate is not required to be exact)."""
    return {"notes": estimate, "exact": exact, "relative_error": (estimate / exact - 1) if exact else None}

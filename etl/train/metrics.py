"""Presentation-attack-detection metrics (ISO/IEC 30107-3), in plain numpy.

Convention: a score is the probability of ATTACK (spoof), in [0, 1]; a presentation is
classified attack when ``score >= threshold``. Bona fide ("live") is label 0, attack is 1,
and every attack carries its attack type ("print", "replay", ...) and, optionally, its
medium (SiW: print quality 1-2, replay device 1-4).

- APCER per attack type: share of that type's attacks classified bona fide (score < t).
  Its maximum over types is ISO/IEC 30107-3's APCER, the ACER's input (`max_apcer`).
- APCER per attack species (`apcer_per_species`): the same per (type, medium), named
  `print-1` ... `replay-4`, as Idiap's `bob.db.siw` treats each type/medium.
- Pooled APCER (`apcer_pooled`): all attack presentations together, the APCER the CDCN
  evaluation code reports (FAS-SGTD's reports APCER per attack label and its maximum).
- BPCER: share of bona fide presentations classified attack (score >= t).
- ACER = (max APCER over types + BPCER) / 2.
- HTER = (pooled APCER + BPCER) / 2, at a threshold chosen elsewhere.
- EER: where the ROC's false-positive rate (BPCER) meets its false-negative rate
  (pooled APCER); see `eer` for the interpolation. The test split's own EER is the figure
  comparable with published SiW tables (theirs report APCER = BPCER = ACER).
- ROC AUC: Mann-Whitney U with half credit for ties (equals scikit-learn's trapezoid AUC).
- `fold_summary`: mean and standard deviation of a metric over a protocol's folds (P2, P3),
  as published tables report them.

Thresholds are chosen on development/validation data (`threshold_at_eer(dev)`) and then
applied to the test split (`pad_report(test, threshold)`), never chosen on the test split.
Frame level is the scores as given; video level (`video_level`) is the mean frame score
of each video, whose threshold is chosen on the validation videos' means in turn
(`threshold_at_eer(video_level(dev))`), never on frames.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(f"facelake.{__name__}")

LIVE = "live"
NO_MEDIUM = -1  # an attack whose medium is not known: its species is "<type>-unknown"


def _as_bool_labels(is_attack: Any) -> np.ndarray:
    arr = np.asarray(is_attack)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind in "iu" and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    raise ValueError(
        f"is_attack must be bool (or integers 0 = bona fide / 1 = attack); got dtype {arr.dtype}"
        + (f" with values {np.unique(arr)[:5].tolist()}" if arr.dtype.kind in "iuf" else "")
    )


def _as_str_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        bad = [v for v in arr.ravel().tolist() if not isinstance(v, str)]
        if bad:
            raise ValueError(f"{name} must hold strings; got {bad[:3]!r}")
        arr = arr.astype(str)
    elif arr.dtype.kind != "U":
        raise ValueError(f"{name} must hold strings (e.g. 'live', 'print', 'replay'); got dtype {arr.dtype}")
    return arr


def _as_media(values: Any) -> np.ndarray:
    """Media as int64, None (unknown) as NO_MEDIUM; ValueError for anything but whole numbers >= 0, None or
    NO_MEDIUM (the stored form of None, as `video_level` passes it on)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        items = arr.ravel().tolist()
        bad = [v for v in items if v is not None and (isinstance(v, bool) or not isinstance(v, int))]
        if bad:
            raise ValueError(f"media must hold whole numbers (None where unknown); got {bad[:3]!r}")
        arr = np.array([NO_MEDIUM if v is None else v for v in items], dtype=np.int64).reshape(arr.shape)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    else:
        raise ValueError(f"media must hold whole numbers (None where unknown); got dtype {arr.dtype}")
    if arr.size and arr.min() < NO_MEDIUM:
        raise ValueError(f"media must be >= 0 (None or {NO_MEDIUM} where unknown); got {int(arr.min())}")
    return arr


@dataclass(frozen=True)
class PadScores:
    """Scores of one evaluation set, one entry per presentation (frame or video).

    scores: probability of attack in [0, 1]; is_attack: bool; attack_types: "live" for
    bona fide, else the attack type; groups: optional video id per sample, for `video_level`;
    media: optional medium per sample (SiW: print quality 1-2, replay device 1-4; None where
    unknown, stored as NO_MEDIUM), for `apcer_per_species`. A bona fide sample's medium is
    kept but never used. Arrays are converted and validated on construction (ValueError on
    bad input).
    """

    scores: np.ndarray
    is_attack: np.ndarray
    attack_types: np.ndarray
    groups: np.ndarray | None = None
    media: np.ndarray | None = None

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores)
        if scores.dtype.kind not in "fiu":
            raise ValueError(f"scores must be numeric; got dtype {scores.dtype}")
        scores = scores.astype(np.float64)
        is_attack = _as_bool_labels(self.is_attack)
        attack_types = _as_str_array(self.attack_types, "attack_types")
        arrays = {"scores": scores, "is_attack": is_attack, "attack_types": attack_types}
        groups = None
        if self.groups is not None:
            groups = np.asarray(self.groups)
            arrays["groups"] = groups
        media = None
        if self.media is not None:
            media = _as_media(self.media)
            arrays["media"] = media
        for name, arr in arrays.items():
            if arr.ndim != 1:
                raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
        lengths = {name: len(arr) for name, arr in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"arrays must have the same length; got {lengths}")
        if not np.isfinite(scores).all():
            raise ValueError(f"scores must be finite; {int((~np.isfinite(scores)).sum())} are NaN or infinite")
        if scores.size and (scores.min() < 0.0 or scores.max() > 1.0):
            raise ValueError(
                f"scores must be attack probabilities in [0, 1]; got range [{scores.min()}, {scores.max()}] "
                "(pass e.g. softmax(logits)[:, 1], the spoof class)"
            )
        live_typed = attack_types == LIVE
        if np.any(live_typed & is_attack):
            raise ValueError(f"{int((live_typed & is_attack).sum())} attack samples have attack type {LIVE!r}")
        if np.any(~live_typed & ~is_attack):
            wrong = np.unique(attack_types[~live_typed & ~is_attack]).tolist()
            raise ValueError(f"bona fide samples must have attack type {LIVE!r}; got {wrong[:5]}")
        if np.any(attack_types[is_attack] == ""):
            raise ValueError("attack samples need a non-empty attack type")
        # frozen dataclass: store the converted arrays through object.__setattr__
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "is_attack", is_attack)
        object.__setattr__(self, "attack_types", attack_types)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "media", media)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @property
    def n_bona_fide(self) -> int:
        return int((~self.is_attack).sum())

    @property
    def n_attacks(self) -> int:
        return int(self.is_attack.sum())


def video_level(s: PadScores) -> PadScores:
    """One sample per video (group): the mean of its frame scores, sorted by group id.

    A video's label, attack type and medium must be the same on all its frames (ValueError
    naming the videos otherwise).
    """
    if s.groups is None:
        raise ValueError("video_level needs groups (a video id per frame); PadScores.groups is None")
    if len(s) == 0:
        raise ValueError("video_level got no samples")
    ids, first, inverse, counts = np.unique(s.groups, return_index=True, return_inverse=True, return_counts=True)
    mixed_label = np.bincount(inverse, weights=s.is_attack.astype(np.float64)) % counts != 0
    if mixed_label.any():
        raise ValueError(f"videos mix bona fide and attack frames: {ids[mixed_label][:5].tolist()}")
    type_differs = s.attack_types != s.attack_types[first][inverse]
    if type_differs.any():
        raise ValueError(f"videos mix attack types: {np.unique(s.groups[type_differs])[:5].tolist()}")
    media = None
    if s.media is not None:
        medium_differs = s.media != s.media[first][inverse]
        if medium_differs.any():
            raise ValueError(f"videos mix media: {np.unique(s.groups[medium_differs])[:5].tolist()}")
        media = s.media[first]
    means = np.bincount(inverse, weights=s.scores) / counts
    # rounding can push a mean of scores at 1.0 a hair above 1; keep it a probability
    means = np.clip(means, 0.0, 1.0)
    log.debug("video level: %d frames -> %d videos", len(s), ids.size)
    return PadScores(
        scores=means, is_attack=s.is_attack[first], attack_types=s.attack_types[first], groups=ids, media=media
    )


def _require_scores(s: PadScores, metric: str, *, bona_fide: bool = False, attacks: bool = False) -> None:
    missing = []
    if bona_fide and s.n_bona_fide == 0:
        missing.append("bona fide (live) presentations")
    if attacks and s.n_attacks == 0:
        missing.append("attack presentations")
    if missing:
        raise ValueError(f"{metric} needs {' and '.join(missing)}; got none among {len(s)} samples")


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not math.isfinite(t):
        raise ValueError(f"threshold must be finite; got {threshold!r}")
    return t


def apcer_per_type(s: PadScores, threshold: float) -> dict[str, float]:
    """Per attack type, the share of its attacks with score < threshold (classified bona fide).

    Types with no samples are not in the dict; sorted by type name.
    """
    _require_scores(s, "APCER", attacks=True)
    t = _check_threshold(threshold)
    out: dict[str, float] = {}
    for attack_type in np.unique(s.attack_types[s.is_attack]).tolist():
        mask = s.attack_types == attack_type
        out[attack_type] = float(np.count_nonzero(s.scores[mask] < t) / np.count_nonzero(mask))
    return out


def species_name(attack_type: str, medium: int) -> str:
    """An attack species' name: `print-1`, `replay-4`; `<type>-unknown` for NO_MEDIUM."""
    return f"{attack_type}-{'unknown' if medium == NO_MEDIUM else medium}"


def _species(s: PadScores, metric: str) -> list[tuple[str, int]]:
    """The (type, medium) pairs of the attacks, sorted by type then medium (unknown last)."""
    if s.media is None:
        raise ValueError(
            f"{metric} needs media (each presentation's medium: SiW print 1-2, replay 1-4); PadScores.media is None"
        )
    pairs = {(str(t), int(m)) for t, m in zip(s.attack_types[s.is_attack].tolist(), s.media[s.is_attack].tolist())}
    return sorted(pairs, key=lambda pair: (pair[0], pair[1] if pair[1] != NO_MEDIUM else math.inf))


def apcer_per_species(s: PadScores, threshold: float) -> dict[str, float]:
    """Per attack species (type and medium, named by `species_name`: `print-1`, ..., `replay-4`), the
    share of its attacks with score < threshold. Species with no samples are not in the dict; ordered by
    type, then medium. Needs `s.media` (ValueError otherwise)."""
    _require_scores(s, "APCER", attacks=True)
    t = _check_threshold(threshold)
    out: dict[str, float] = {}
    for attack_type, medium in _species(s, "APCER per species"):
        mask = s.is_attack & (s.attack_types == attack_type) & (s.media == medium)
        out[species_name(attack_type, medium)] = float(np.count_nonzero(s.scores[mask] < t) / np.count_nonzero(mask))
    return out


def attacks_per_species(s: PadScores) -> dict[str, int]:
    """How many attack presentations each species has (the denominators of `apcer_per_species`)."""
    return {
        species_name(attack_type, medium): int(
            np.count_nonzero(s.is_attack & (s.attack_types == attack_type) & (s.media == medium))
        )
        for attack_type, medium in _species(s, "attacks per species")
    }


def apcer_pooled(s: PadScores, threshold: float) -> float:
    """The share of ALL attack presentations with score < threshold, whatever their type: the APCER the
    CDCN evaluation code reports. Not ISO/IEC 30107-3's APCER (the maximum over types)."""
    _require_scores(s, "APCER", attacks=True)
    t = _check_threshold(threshold)
    return float(np.count_nonzero(s.scores[s.is_attack] < t) / s.n_attacks)


def bpcer(s: PadScores, threshold: float) -> float:
    """Share of bona fide presentations with score >= threshold (classified attack)."""
    _require_scores(s, "BPCER", bona_fide=True)
    t = _check_threshold(threshold)
    return float(np.count_nonzero(s.scores[~s.is_attack] >= t) / s.n_bona_fide)


def acer(s: PadScores, threshold: float) -> float:
    """(max APCER over attack types + BPCER) / 2: ISO/IEC 30107-3's APCER (the worst type), not the pooled one."""
    _require_scores(s, "ACER", bona_fide=True, attacks=True)
    return (max(apcer_per_type(s, threshold).values()) + bpcer(s, threshold)) / 2


def hter(s: PadScores, threshold: float) -> float:
    """(pooled APCER + BPCER) / 2 at a threshold chosen on other data (FAR + FRR)/2."""
    _require_scores(s, "HTER", bona_fide=True, attacks=True)
    return (apcer_pooled(s, threshold) + bpcer(s, threshold)) / 2


def roc_curve(s: PadScores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) with attack as the positive class.

    fpr = BPCER and tpr = 1 - APCER(all attacks) at each threshold. One point per distinct
    score, descending, plus a first point (0, 0) at threshold +inf: the same arrays as
    ``sklearn.metrics.roc_curve(is_attack, scores, drop_intermediate=False)``.
    """
    _require_scores(s, "ROC", bona_fide=True, attacks=True)
    values, inverse = np.unique(s.scores, return_inverse=True)
    pos = np.bincount(inverse, weights=s.is_attack.astype(np.float64), minlength=values.size)
    neg = np.bincount(inverse, minlength=values.size) - pos
    # descending thresholds; cumulative counts are integers held exactly in float64
    tps = np.concatenate(([0.0], np.cumsum(pos[::-1])))
    fps = np.concatenate(([0.0], np.cumsum(neg[::-1])))
    thresholds = np.concatenate(([np.inf], values[::-1]))
    return fps / fps[-1], tps / tps[-1], thresholds


def eer(s: PadScores) -> tuple[float, float]:
    """(EER, threshold at the EER), by linear interpolation on the ROC.

    Method: on the ROC points (`roc_curve`, thresholds descending) take d = FPR - FNR with
    FNR = 1 - TPR. d rises from -1 at the first point to +1 at the last, so there is a
    first point i with d[i] >= 0. Between points i-1 and i, with t = d[i-1] / (d[i-1] - d[i]),
    EER = FPR[i-1] + t * (FPR[i] - FPR[i-1]) (which equals FNR at the same t), and the
    threshold is interpolated on the same t between the two points' thresholds; the
    leading +inf threshold is taken as 1.0, the top of the score range.
    Scores are discrete, so on the data that threshold gives operating point i-1 (or i
    when t == 1): use it as an operating point for new data, not to re-measure the EER.
    """
    fpr, tpr, thresholds = roc_curve(s)
    d = fpr - (1.0 - tpr)
    i = int(np.argmax(d >= 0))  # d[-1] == 1, so a crossing exists and i >= 1
    t = d[i - 1] / (d[i - 1] - d[i])
    rate = float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))
    upper = 1.0 if np.isinf(thresholds[i - 1]) else float(thresholds[i - 1])
    threshold = float(upper + t * (thresholds[i] - upper))
    return rate, threshold


def threshold_at_eer(dev: PadScores) -> float:
    """The EER threshold of development/validation scores, to apply to the test split."""
    return eer(dev)[1]


def roc_auc(s: PadScores) -> float:
    """Area under the ROC: P(attack score > bona fide score) + 0.5 P(equal) (Mann-Whitney U)."""
    _require_scores(s, "ROC AUC", bona_fide=True, attacks=True)
    values, inverse = np.unique(s.scores, return_inverse=True)
    pos = np.bincount(inverse, weights=s.is_attack.astype(np.float64), minlength=values.size)
    neg = np.bincount(inverse, minlength=values.size) - pos
    neg_below = np.cumsum(neg) - neg  # bona fide strictly below each distinct score
    u = float(np.sum(pos * neg_below) + 0.5 * np.sum(pos * neg))
    return u / (s.n_attacks * s.n_bona_fide)


@dataclass(frozen=True)
class PadReport:
    """Metrics of one test set at a threshold chosen on development data (rates in [0, 1]).

    apcer: APCER per attack type; max_apcer: its maximum, ISO/IEC 30107-3's APCER and the
    ACER's input. apcer_per_species: per type and medium (`print-1` ... `replay-4`; empty
    when the scores carry no media) and max_apcer_species its maximum (None then).
    apcer_pooled: all attacks together (the CDCN code's APCER; HTER's input). eer: the test
    set's own EER, the figure comparable with published SiW tables; acer: at `threshold`,
    chosen on validation, facelake's operating figure.
    """

    threshold: float
    apcer: dict[str, float]
    max_apcer: float
    apcer_per_species: dict[str, float]
    max_apcer_species: float | None
    apcer_pooled: float
    bpcer: float
    acer: float
    hter: float
    eer: float
    auc: float
    n_bona_fide: int
    n_attacks: dict[str, int] = field(default_factory=dict)
    n_attacks_per_species: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pad_report(test: PadScores, threshold: float) -> PadReport:
    """All metrics of `test` at `threshold`, which must come from validation data
    (e.g. `threshold_at_eer(dev)`); only the threshold-free EER and AUC look at `test` alone.
    Per-species figures need `test.media` (else they are empty / None)."""
    t = _check_threshold(threshold)
    _require_scores(test, "pad_report", bona_fide=True, attacks=True)
    apcer = apcer_per_type(test, t)
    species = apcer_per_species(test, t) if test.media is not None else {}
    types, counts = np.unique(test.attack_types[test.is_attack], return_counts=True)
    report = PadReport(
        threshold=t,
        apcer=apcer,
        max_apcer=max(apcer.values()),
        apcer_per_species=species,
        max_apcer_species=max(species.values()) if species else None,
        apcer_pooled=apcer_pooled(test, t),
        bpcer=bpcer(test, t),
        acer=acer(test, t),
        hter=hter(test, t),
        eer=eer(test)[0],
        auc=roc_auc(test),
        n_bona_fide=test.n_bona_fide,
        n_attacks={str(k): int(v) for k, v in zip(types.tolist(), counts.tolist())},
        n_attacks_per_species=attacks_per_species(test) if test.media is not None else {},
    )
    log.debug("PAD report at threshold %.4f: ACER %.4f, HTER %.4f, EER %.4f", t, report.acer, report.hter, report.eer)
    return report


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def report_table(rows: dict[str, PadReport]) -> str:
    """Markdown table, one row per name (e.g. "P1 frame", "P1 video"), rates in %.

    One APCER column per attack type and per attack species seen in any row ("–" where a
    row has none), then ISO's APCER (max over types) and the pooled one.
    """
    if not rows:
        raise ValueError("report_table needs at least one report; got an empty dict")
    types = sorted({k for r in rows.values() for k in r.apcer})
    species = list(dict.fromkeys(k for r in rows.values() for k in r.apcer_per_species))
    header = (
        ["name", "threshold"]
        + [f"APCER {k} (%)" for k in types + species]
        + ["max APCER (%)", "pooled APCER (%)", "BPCER (%)", "ACER (%)", "HTER (%)", "EER (%)", "AUC (%)"]
        + ["bona fide", "attacks"]
    )
    align = ["---", "---:"] + ["---:"] * (len(header) - 2)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for name, r in rows.items():
        cells = (
            [name, f"{r.threshold:.4f}"]
            + [_pct(r.apcer.get(k)) for k in types]
            + [_pct(r.apcer_per_species.get(k)) for k in species]
            + [_pct(r.max_apcer), _pct(r.apcer_pooled), _pct(r.bpcer), _pct(r.acer), _pct(r.hter), _pct(r.eer)]
            + [_pct(r.auc), str(r.n_bona_fide), str(sum(r.n_attacks.values()))]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- over a protocol's folds

# Published SiW tables give P2 and P3 as mean ± std over their folds. Neither the CDCN nor the
# FAS-SGTD evaluation code computes that summary (it is made outside the published code), so the
# spread is numpy's default: the population standard deviation (ddof 0) of the folds' values.
FOLD_STD_DDOF = 0


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, standard deviation) of `values`; the std is the population one (numpy's default, ddof 0:
    the root mean squared deviation from the mean). With n folds the sample std (ddof 1) is
    sqrt(n / (n - 1)) times larger. ValueError for no values or a value that is not finite."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"mean_std needs a non-empty list of numbers; got {values!r}")
    if not np.isfinite(arr).all():
        raise ValueError(f"mean_std needs finite numbers; got {values!r}")
    return float(arr.mean()), float(arr.std(ddof=FOLD_STD_DDOF))


def fold_summary(folds: Mapping[str, Mapping[str, float]], keys: Sequence[str]) -> dict[str, Any]:
    """Mean and std over folds of each metric in `keys`.

    folds: fold name (`P2.1`) -> its metrics (rates in [0, 1]); every fold must have every key.
    Returns {"folds": [names], "n_folds": n, "std": "population (ddof 0)", "metrics": {key: {"mean": m,
    "std": s}}}.
    """
    if not folds:
        raise ValueError("fold_summary needs at least one fold; got none")
    if not keys:
        raise ValueError("fold_summary needs at least one metric key; got none")
    missing = {name: [k for k in keys if k not in metrics] for name, metrics in folds.items()}
    missing = {name: gone for name, gone in missing.items() if gone}
    if missing:
        raise ValueError(f"fold_summary: folds lack metrics: {missing}")
    summary: dict[str, dict[str, float]] = {}
    for key in keys:
        mean, std = mean_std([float(metrics[key]) for metrics in folds.values()])
        summary[key] = {"mean": mean, "std": std}
    return {
        "folds": list(folds),
        "n_folds": len(folds),
        "std": f"population (ddof {FOLD_STD_DDOF})",
        "metrics": summary,
    }


def mean_std_text(entry: Mapping[str, float], scale: float = 100.0, digits: int = 2) -> str:
    """`0.57 ± 0.69`: a `fold_summary` metric entry as published tables print it (rates in % by default)."""
    return f"{entry['mean'] * scale:.{digits}f} ± {entry['std'] * scale:.{digits}f}"

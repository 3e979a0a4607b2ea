"""PNG figures of a model's scores for the report: ROC + DET curves and the calibration (reliability) plot.

Drawn with matplotlib on the Agg canvas (no pyplot, no display), returned as PNG bytes for a
`data:` URI. The curves use the training metrics (`etl.train.metrics`), so the report's
ROC/DET read like the training run's own `roc_det.png`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from etl.train.metrics import PadScores, eer, roc_auc, roc_curve

DPI = 100
DET_CLIP = 1e-4  # error rates of 0 or 1 sit at +-3.7 normal deviates instead of +-inf
_DET_TICKS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999)


def _figure(ncols: int, size: tuple[float, float]):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the report's model figures need matplotlib: pip install matplotlib") from exc
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots(1, ncols)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _probit(p: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf(np.clip(p, DET_CLIP, 1.0 - DET_CLIP))


def roc_det_png(named_scores: Mapping[str, PadScores], *, thresholds: Mapping[str, float] | None = None) -> bytes:
    """ROC (attacks detected vs BPCER) and DET (BPCER vs APCER on normal-deviate axes), one curve
    per name; `thresholds` marks each curve's operating point. Each PadScores needs both classes."""
    if not named_scores:
        raise ValueError("roc_det_png needs at least one named PadScores; got none")
    fig = _figure(2, (11.0, 4.5))
    ax_roc, ax_det = fig.axes
    for name, s in named_scores.items():
        fpr, tpr, _ = roc_curve(s)
        rate, _ = eer(s)
        (line,) = ax_roc.plot(fpr, tpr, label=f"{name} (AUC {100 * roc_auc(s):.2f} %, EER {100 * rate:.2f} %)")
        ax_det.plot(_probit(1.0 - tpr), _probit(fpr), label=name, color=line.get_color())
        threshold = (thresholds or {}).get(name)
        if threshold is not None:
            at = s.scores >= threshold
            bp = float(at[~s.is_attack].mean())
            ap = float((~at[s.is_attack]).mean())
            ax_roc.plot([bp], [1.0 - ap], marker="o", color=line.get_color())
            ax_det.plot(_probit(np.array([ap])), _probit(np.array([bp])), marker="o", color=line.get_color())
    ax_roc.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax_roc.set(
        xlim=(0, 1),
        ylim=(0, 1.005),
        xlabel="BPCER (bona fide classified attack)",
        ylabel="1 - APCER (attacks detected)",
        title="ROC (dot: the model's threshold)",
    )
    ax_roc.legend(loc="lower right", fontsize="small")
    lim = _probit(np.array([DET_CLIP, 1.0 - DET_CLIP]))
    ticks = _probit(np.array(_DET_TICKS))
    labels = [f"{100 * p:g}" for p in _DET_TICKS]
    ax_det.plot(lim, lim, color="grey", linestyle=":", linewidth=1)  # the EER line
    ax_det.set(xlim=lim, ylim=lim, xticks=ticks, yticks=ticks, xlabel="APCER (%)", ylabel="BPCER (%)", title="DET")
    ax_det.set_xticklabels(labels)
    ax_det.set_yticklabels(labels)
    ax_det.grid(True, alpha=0.3)
    ax_det.legend(loc="upper right", fontsize="small")
    return _png(fig)


def calibration_png(
    bin_index: Sequence[int],
    mean_scores: Sequence[float],
    spoof_rates: Sequence[float],
    faces: Sequence[int],
    *,
    bins: int,
    threshold: float,
) -> bytes:
    """Reliability diagram (observed spoof rate against mean score per bin, with the diagonal of a
    calibrated model) beside the faces per score bin, the model's threshold marked."""
    if not faces:
        raise ValueError("calibration_png needs at least one non-empty bin")
    fig = _figure(2, (11.0, 4.0))
    ax_rel, ax_count = fig.axes
    ax_rel.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="calibrated")
    ax_rel.plot(mean_scores, spoof_rates, marker="o", label="observed")
    ax_rel.axvline(threshold, color="#c0504d", linewidth=1, label=f"threshold {threshold:.3g}")
    ax_rel.set(xlim=(0, 1), ylim=(-0.02, 1.02), xlabel="mean P(spoof) in the bin", ylabel="share of attacks")
    ax_rel.set_title("Calibration")
    ax_rel.legend(loc="upper left", fontsize="small")
    ax_rel.grid(True, alpha=0.3)
    width = 1.0 / bins
    lefts = [b * width for b in bin_index]
    ax_count.bar(lefts, faces, width=width * 0.95, align="edge", color="#3b6ea5")
    ax_count.axvline(threshold, color="#c0504d", linewidth=1)
    ax_count.set(xlim=(0, 1), xlabel="P(spoof)", ylabel="faces")
    ax_count.set_title("Faces per score bin")
    return _png(fig)

"""PNG plots of a training run: ROC + DET curves of PAD scores, and the loss history with its forecast.

matplotlib is imported where used (it is an optional dependency) and drawn on the Agg
canvas directly, without pyplot, so no global figure state or display backend is involved.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from etl.train.forecast import ExpFit
from etl.train.metrics import PadScores, eer, roc_auc, roc_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(f"facelake.{__name__}")

DPI = 100
FIGSIZE = (11.0, 4.5)  # inches: 1100 x 450 px at DPI
DET_CLIP = 1e-4  # error rates of 0 or 1 sit at +-3.7 normal deviates instead of +-inf
_DET_TICKS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999)


def _new_figure(ncols: int) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("train_plots needs matplotlib: pip install matplotlib") from exc
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots(1, ncols)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=DPI)
    log.info("wrote %s (%d bytes)", out, out.stat().st_size)
    return out


def _probit(p: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf(np.clip(p, DET_CLIP, 1.0 - DET_CLIP))


def plot_roc_det(named_scores: dict[str, PadScores], path: str | Path) -> Path:
    """ROC (attack detection rate vs BPCER) and DET (BPCER vs APCER on normal-deviate axes,
    rates clipped to [DET_CLIP, 1 - DET_CLIP]), one curve per name. Returns the PNG path."""
    if not named_scores:
        raise ValueError("plot_roc_det needs at least one named PadScores; got an empty dict")
    fig = _new_figure(2)
    draw_roc_det(*fig.axes, named_scores)
    return _save(fig, path)


def draw_roc_det(
    ax_roc: Axes, ax_det: Axes, named_scores: Mapping[str, PadScores], thresholds: Mapping[str, float] | None = None
) -> None:
    """One ROC and one DET curve per name on the two axes; `thresholds` marks each named curve's
    operating point with a dot (the report's model section)."""
    for name, s in named_scores.items():
        if not isinstance(s, PadScores):
            raise TypeError(f"plot_roc_det: {name!r} must be a PadScores; got {type(s).__name__}")
        fpr, tpr, _ = roc_curve(s)
        rate, _ = eer(s)
        label = f"{name} (AUC {100 * roc_auc(s):.2f} %, EER {100 * rate:.2f} %)"
        (line,) = ax_roc.plot(fpr, tpr, label=label)
        ax_det.plot(_probit(1.0 - tpr), _probit(fpr), label=name, color=line.get_color())
        threshold = (thresholds or {}).get(name)
        if threshold is not None:
            at = s.scores >= threshold
            bpcer, apcer = float(at[~s.is_attack].mean()), float((~at[s.is_attack]).mean())
            ax_roc.plot([bpcer], [1.0 - apcer], marker="o", color=line.get_color())
            ax_det.plot(_probit(np.array([apcer])), _probit(np.array([bpcer])), marker="o", color=line.get_color())
    ax_roc.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax_roc.set(
        xlim=(0, 1),
        ylim=(0, 1.005),
        xlabel="BPCER (bona fide classified attack)",
        ylabel="1 - APCER (attacks detected)",
        title="ROC (dot: the model's threshold)" if thresholds else "ROC",
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


def _series(history: dict[str, list[float]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    losses: dict[str, np.ndarray] = {}
    accuracies: dict[str, np.ndarray] = {}
    for key, values in history.items():
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"history[{key!r}] must be a non-empty list of per-epoch values; got {values!r}")
        if "loss" in key:
            losses[key] = arr
        elif "acc" in key:  # Keras: "accuracy"/"val_accuracy", older "acc"/"val_acc"
            accuracies[key] = arr
        else:
            log.debug("plot_training ignores history[%r]", key)
    return losses, accuracies


def _plot_curves(ax: Axes, curves: dict[str, np.ndarray], ylabel: str) -> None:
    for key, arr in curves.items():
        ax.plot(np.arange(1, arr.size + 1), arr, marker="o", markersize=3, label=key)
    ax.set(xlabel="epoch", ylabel=ylabel)
    ax.grid(True, alpha=0.3)


def plot_training(
    history: dict[str, list[float]],
    path: str | Path,
    forecast: ExpFit | None = None,
    *,
    extend_epochs: int = 5,
) -> Path:
    """Loss curves per epoch (keys containing "loss"), accuracy curves in a second panel
    when present (keys containing "acc"), and the forecast ``a * exp(-b * x) + c`` drawn
    from epoch 1 to `extend_epochs` past the last one. Returns the PNG path."""
    if not history:
        raise ValueError("plot_training needs a history (e.g. keras History.history); got an empty dict")
    if extend_epochs < 0:
        raise ValueError(f"extend_epochs must be >= 0; got {extend_epochs}")
    losses, accuracies = _series(history)
    if not losses:
        raise ValueError(f"plot_training needs a loss series (a key containing 'loss'); got keys {sorted(history)}")
    fig = _new_figure(2 if accuracies else 1)
    ax_loss = fig.axes[0]
    _plot_curves(ax_loss, losses, "loss")
    if forecast is not None:
        last = max(arr.size for arr in losses.values())
        x = np.linspace(1, last + extend_epochs, 200)
        label = f"forecast {forecast.a:.3g}·exp(−{forecast.b:.3g}·x)+{forecast.c:.3g}"
        ax_loss.plot(x, forecast.predict(x), linestyle="--", color="black", label=label)
        ax_loss.axvline(last, color="grey", linestyle=":", linewidth=1)
    ax_loss.set_title("loss")
    ax_loss.legend(fontsize="small")
    if accuracies:
        ax_acc = fig.axes[1]
        _plot_curves(ax_acc, accuracies, "accuracy")
        ax_acc.set_title("accuracy")
        ax_acc.legend(fontsize="small")
    return _save(fig, path)

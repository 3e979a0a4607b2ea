"""PNG figures of a model's scores for the report: ROC + DET curves and the calibration (reliability) plot.

Drawn with matplotlib on the Agg canvas (no pyplot, no display), returned as PNG bytes for a
`data:` URI. The ROC/DET curves are drawn by training's own plotting (`etl.train.plots`), so they
read like the training run's `roc_det.png`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from etl.train.metrics import PadScores
from etl.train.plots import draw_roc_det

DPI = 100


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


def roc_det_png(named_scores: Mapping[str, PadScores], *, thresholds: Mapping[str, float] | None = None) -> bytes:
    """ROC (attacks detected vs BPCER) and DET (BPCER vs APCER on normal-deviate axes), one curve
    per name, drawn as training draws its own (`etl.train.plots.draw_roc_det`); `thresholds` marks
    each curve's operating point. Each PadScores needs both classes."""
    if not named_scores:
        raise ValueError("roc_det_png needs at least one named PadScores; got none")
    fig = _figure(2, (11.0, 4.5))
    draw_roc_det(*fig.axes, named_scores, thresholds)
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

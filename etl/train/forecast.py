"""Forecast a training curve by fitting ``a * exp(-b * x) + c`` to its history (the notes' method).

x is the epoch number starting at 1 (Keras' first epoch is x = 1). b is bounded to be
positive, so the curve flattens towards c (the forecast plateau); a > 0 for a falling loss,
a < 0 for a rising accuracy.

`fit_exponential` raises ValueError for fewer than 3 points (three parameters), for
non-finite values (a diverged run: trim the history first) and when the optimiser fails;
it never returns None.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(f"facelake.{__name__}")

MIN_POINTS = 3
_B_MIN = 1e-9  # b > 0: the lower bound must be a number for scipy's bounded solver


@dataclass(frozen=True)
class ExpFit:
    """``a * exp(-b * epoch) + c`` fitted to a history; rmse is on the fitted points."""

    a: float
    b: float
    c: float
    rmse: float

    def predict(self, epochs: np.ndarray | Sequence[float] | float) -> np.ndarray:
        x = np.asarray(epochs, dtype=np.float64)
        return self.a * np.exp(-self.b * x) + self.c


def _model(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a * np.exp(-b * x) + c


def _three_point_guess(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float] | None:
    """Exact parameters of the curve through the first, middle and last points
    (equally spaced in x), or None when those points are not exponential-shaped."""
    m = (len(y) - 1) // 2
    y0, y1, y2 = y[0], y[m], y[2 * m]
    if y1 == y0:
        return None
    q = (y2 - y1) / (y1 - y0)  # = exp(-b m) for an exact curve
    if not 0.0 < q < 1.0:
        return None
    b = -math.log(q) / m
    r0 = math.exp(-b * x[0])
    a = (y1 - y0) / ((q - 1.0) * r0)
    return a, b, y0 - a * r0


def _log_linear_guess(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Plateau just beyond the last values, then a straight line through log|y - c|."""
    span = float(np.ptp(y)) or max(abs(float(y[-1])), 1.0)
    falling = y[0] >= y[-1]
    c = float(y.min() - 0.1 * span) if falling else float(y.max() + 0.1 * span)
    slope, intercept = np.polyfit(x, np.log(np.abs(y - c)), 1)
    b = float(np.clip(-slope, 1e-3, 10.0))
    a = math.copysign(math.exp(intercept), 1.0 if falling else -1.0)
    return a, b, c


def fit_exponential(losses: Sequence[float] | np.ndarray) -> ExpFit:
    """Fit ``a * exp(-b * x) + c`` (x = 1, 2, ...) to `losses` by least squares (scipy curve_fit).

    Starts from two initial guesses (exact three-point solution, log-linear fit) and keeps
    the fit with the lower RMSE. ValueError for < 3 points, non-finite values, or no fit.
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    y = np.asarray(losses, dtype=np.float64)
    if y.ndim != 1 or y.size < MIN_POINTS:
        raise ValueError(f"fit_exponential needs at least {MIN_POINTS} values (one per epoch); got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("fit_exponential needs finite values; trim the NaN/inf epochs of a diverged run first")
    x = np.arange(1, y.size + 1, dtype=np.float64)
    guesses = [g for g in (_three_point_guess(x, y), _log_linear_guess(x, y)) if g is not None]
    best: ExpFit | None = None
    errors: list[str] = []
    for a0, b0, c0 in guesses:
        try:
            with warnings.catch_warnings():
                # a perfect or flat fit has no covariance estimate; the parameters are still fine
                warnings.simplefilter("ignore", OptimizeWarning)
                params, _ = curve_fit(
                    _model,
                    x,
                    y,
                    p0=(a0, max(b0, 2 * _B_MIN), c0),
                    bounds=([-np.inf, _B_MIN, -np.inf], [np.inf, np.inf, np.inf]),
                    method="trf",
                    x_scale="jac",
                    ftol=1e-12,
                    xtol=1e-12,
                    gtol=1e-12,
                    max_nfev=10_000,
                )
        except (RuntimeError, ValueError) as exc:
            errors.append(str(exc))
            continue
        if not np.isfinite(params).all():
            errors.append(f"non-finite parameters {params.tolist()}")
            continue
        a, b, c = (float(p) for p in params)
        rmse = float(np.sqrt(np.mean((_model(x, a, b, c) - y) ** 2)))
        if best is None or rmse < best.rmse:
            best = ExpFit(a=a, b=b, c=c, rmse=rmse)
    if best is None:
        raise ValueError(f"exponential fit failed for {y.size} points: {'; '.join(errors)}")
    log.debug("exp fit on %d epochs: a=%.4g b=%.4g c=%.4g rmse=%.3g", y.size, best.a, best.b, best.c, best.rmse)
    return best

"""Forecast accuracy: MAE, RMSE, MASE, sMAPE, MAPE, pinball loss, interval coverage, Brier score, skill.

All take arrays of equal length and ignore pairs where the truth or the forecast is NaN (gaps in the
observations are not scored). Definitions follow Hyndman & Koehler (2006), "Another look at measures of
forecast accuracy", IJF 22(4):679–688 (MASE, sMAPE), Gneiting & Raftery (2007), JASA 102:359–378 (pinball,
interval coverage), and Brier (1950), Monthly Weather Review 78:1–3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _pair(y, f):
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    ok = ~(np.isnan(y) | np.isnan(f))
    return y[ok], f[ok]


def mae(y, f) -> float:
    """Mean absolute error, in the unit of ``y``."""
    y, f = _pair(y, f)
    return float(np.mean(np.abs(y - f))) if len(y) else float("nan")


def rmse(y, f) -> float:
    """Root mean squared error, in the unit of ``y``."""
    y, f = _pair(y, f)
    return float(np.sqrt(np.mean((y - f) ** 2))) if len(y) else float("nan")


def mape(y, f) -> float:
    """Mean absolute percentage error [%] (pairs with ``y == 0`` are left out)."""
    y, f = _pair(y, f)
    ok = y != 0
    return float(100 * np.mean(np.abs((y[ok] - f[ok]) / y[ok]))) if ok.any() else float("nan")


def smape(y, f) -> float:
    """Symmetric MAPE [%], ``200·mean(|y−f| / (|y|+|f|))`` (pairs with both zero count as 0)."""
    y, f = _pair(y, f)
    den = np.abs(y) + np.abs(f)
    r = np.where(den == 0, 0.0, np.abs(y - f) / np.where(den == 0, 1, den))
    return float(200 * np.mean(r)) if len(y) else float("nan")


def naive_scale(history, season: int = 24) -> float:
    """In-sample MAE of the seasonal naive forecast ``y[t−season]`` on ``history`` (MASE's denominator)."""
    h = np.asarray(history, dtype=float)
    d = np.abs(h[season:] - h[:-season])
    d = d[~np.isnan(d)]
    return float(np.mean(d)) if len(d) else float("nan")


def mase(y, f, scale: float) -> float:
    """Mean absolute scaled error: MAE / ``scale`` (from :func:`naive_scale` on the training history)."""
    return mae(y, f) / scale


def pinball(y, q, tau: float) -> float:
    """Mean pinball (quantile) loss of quantile forecast ``q`` at level ``tau``: ``mean(max(τ(y−q), (τ−1)(y−q)))``."""
    y, q = _pair(y, q)
    d = y - q
    return float(np.mean(np.maximum(tau * d, (tau - 1) * d))) if len(y) else float("nan")


def interval_score_pinball(y, lo, hi, level: float) -> float:
    """Mean of the two pinball losses of a central ``level`` % interval (quantiles α/2 and 1−α/2)."""
    a = (100 - level) / 200
    return 0.5 * (pinball(y, lo, a) + pinball(y, hi, 1 - a))


def coverage(y, lo, hi) -> float:
    """Share of observed ``y`` inside ``[lo, hi]``."""
    y, lo, hi = (np.asarray(v, dtype=float) for v in (y, lo, hi))
    ok = ~(np.isnan(y) | np.isnan(lo) | np.isnan(hi))
    return float(np.mean((y[ok] >= lo[ok]) & (y[ok] <= hi[ok]))) if ok.any() else float("nan")


def brier(p, event) -> float:
    """Brier score: ``mean((p − 1[event])²)`` (0 perfect; a constant climatological rate scores its variance)."""
    p, e = _pair(p, np.asarray(event, dtype=float))
    return float(np.mean((p - e) ** 2)) if len(p) else float("nan")


def reliability(p, event, bins: int = 10) -> pd.DataFrame:
    """Reliability curve: per probability bin, the mean forecast probability, the observed frequency, count."""
    p, e = _pair(p, np.asarray(event, dtype=float))
    b = np.minimum((p * bins).astype(int), bins - 1)
    df = pd.DataFrame({"bin": b, "p": p, "e": e})
    g = df.groupby("bin").agg(forecast=("p", "mean"), observed=("e", "mean"), n=("e", "size")).reset_index()
    return g


def skill(score: float, reference: float) -> float:
    """Skill score ``1 − score / reference`` (positive: better than the reference, e.g. persistence)."""
    return 1.0 - score / reference

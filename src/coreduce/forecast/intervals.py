"""Split-conformal prediction intervals and exceedance probabilities, per horizon.

Residuals ``r = T(y) − T(ŷ)`` of a model's forecasts on calibration cutoffs (before the test period) are kept
per horizon; an interval at level L is ``T⁻¹(T(ŷ) + [q_{α/2}(r), q_{1−α/2}(r)])`` with the finite-sample
quantile rank ``⌈(n+1)·p⌉`` (Vovk et al. 2005; Lei et al. 2018, JASA 113:1094–1111, split conformal). ``T`` is
``log1p`` for non-negative quantities (PM2.5, load: multiplicative errors) or the identity. The probability
that ``y`` exceeds a threshold is the share of calibration residuals that would put it above:
``P(y > c) = mean(T(ŷ) + r > T(c))`` — the conformal predictive distribution (Vovk et al. 2017).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

_T = {
    "log1p": (np.log1p, np.expm1),
    "identity": (lambda x: np.asarray(x, dtype=float), lambda x: np.asarray(x, dtype=float)),
}


@dataclass
class Conformal:
    """Residuals by horizon from calibration forecasts (``h, y_hat`` with the truth ``y``)."""

    residuals: dict[int, np.ndarray]
    transform: str = "log1p"

    @classmethod
    def calibrate(cls, cal: pd.DataFrame, transform: str = "log1p", point: str = "y_hat") -> Conformal:
        t, _ = _T[transform]
        ok = cal[["y", point]].notna().all(axis=1)
        c = cal[ok]
        yy, ff = c["y"].to_numpy(float), c[point].to_numpy(float)
        if transform == "log1p":
            yy, ff = np.maximum(yy, 0), np.maximum(ff, 0)
        r = t(yy) - t(ff)
        res = {int(k): np.sort(r[c["h"].to_numpy() == k]) for k in np.unique(c["h"])}
        return cls(res, transform)

    def _res(self, h: int) -> np.ndarray:
        if h in self.residuals:
            return self.residuals[h]
        return self.residuals[
            max(k for k in self.residuals if k <= h) if min(self.residuals) <= h else min(self.residuals)
        ]

    @staticmethod
    def _q(r: np.ndarray, p: float) -> float:
        n = len(r)
        k = int(np.ceil((n + 1) * p)) - 1
        return float(r[min(max(k, 0), n - 1)])

    def add_intervals(self, fc: pd.DataFrame, levels: Sequence[int] = (95,), point: str = "y_hat") -> pd.DataFrame:
        """``fc`` plus ``lo-<L>``/``hi-<L>`` columns."""
        t, inv = _T[self.transform]
        out = fc.copy()
        f = out[point].to_numpy(float)
        tf = t(np.maximum(f, 0) if self.transform == "log1p" else f)
        hs = out["h"].to_numpy()
        for lv in levels:
            a = (100 - lv) / 200
            lo, hi = np.full(len(out), np.nan), np.full(len(out), np.nan)
            for k in np.unique(hs):
                r = self._res(int(k))
                m = hs == k
                lo[m] = inv(tf[m] + self._q(r, a))
                hi[m] = inv(tf[m] + self._q(r, 1 - a))
            if self.transform == "log1p":
                lo = np.maximum(lo, 0)
            out[f"lo-{lv}"], out[f"hi-{lv}"] = lo, hi
        return out

    def exceedance(self, fc: pd.DataFrame, threshold: float, point: str = "y_hat") -> np.ndarray:
        """``P(y > threshold)`` for every row of ``fc`` from the residuals of its horizon."""
        t, _ = _T[self.transform]
        f = fc[point].to_numpy(float)
        tf = t(np.maximum(f, 0) if self.transform == "log1p" else f)
        tc = float(t(np.asarray([threshold]))[0])
        p = np.full(len(fc), np.nan)
        hs = fc["h"].to_numpy()
        for k in np.unique(hs):
            r = self._res(int(k))
            m = hs == k
            # count r > tc - tf  ->  n - searchsorted(r, tc - tf, 'right')
            p[m] = 1.0 - np.searchsorted(r, tc - tf[m], side="right") / len(r)
        p[np.isnan(f)] = np.nan
        return p

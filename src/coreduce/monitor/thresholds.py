"""Dynamic thresholds: the expected value given the operating state, and an online residual band.

A fixed limit alarms at part load (NOx is high there by design of lean-premix burners) and misses a +10 %
drift at full load.  :class:`ConditionalModel` predicts the expected value from the operating state (load,
ambient, temperatures; a LightGBM median regression, or a binned conditional median when LightGBM is not
installed); :class:`ResidualBand` keeps, per (unit, pollutant), a trailing quantile of the residuals seen
*before* each reading (recalibrated online, so the band follows drift) and switches an alarm on above the
upper band and off only below a lower band (hysteresis).  :func:`fixed_limit` is the separate regulatory check.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def _previous_in_group(g: np.ndarray, k: int) -> np.ndarray:
    """Position of the ``k``-th previous row of the same group (rows in their order), -1 where none."""
    n = len(g)
    prev = np.full(n, -1, dtype=np.intp)
    if n <= k:
        return prev
    codes = pd.factorize(g)[0]
    order = np.argsort(codes, kind="stable")
    same = codes[order[k:]] == codes[order[:-k]]
    prev[order[k:]] = np.where(same, order[:-k], -1)
    return prev


def _take_or_nan(v: np.ndarray, prev: np.ndarray, minus: np.ndarray | None = None) -> np.ndarray:
    """``v`` at ``prev`` (NaN where -1), or ``minus`` less that (a first difference) when ``minus`` is given."""
    out = np.full(len(v), np.nan)
    has = prev >= 0
    out[has] = v[prev[has]] if minus is None else minus[has] - v[prev[has]]
    return out


@dataclass
class ConditionalModel:
    """Expected value of ``target`` given ``features`` (the operating state).

    Parameters
    ----------
    features : list of str
        Columns describing the operating state, e.g. ``["TEY", "AT", "AP", "AH", "TIT", ...]``.
    target : str
    method : str
        ``"lightgbm"`` (squared-error regression, 400 trees, learning rate 0.05) or ``"binned"`` (median of the
        target in deciles of the first feature, the load).
    lags : int
        ``> 0``: also condition on the previous ``lags`` observed values of the target and on the first
        differences of the features (a one-step-ahead model; still causal).  It catches isolated faults far
        better but follows a sustained drift after a few readings: keep a ``lags=0`` model for drifts.
    group : str, optional
        Column whose changes break the lag chain (e.g. ``year`` when files are stacked).
    """

    features: list[str]
    target: str
    method: str = "lightgbm"
    lags: int = 0
    group: str | None = None
    seed: int = 0
    model: Any = None
    bins: np.ndarray | None = None
    medians: np.ndarray | None = None
    version: str = ""

    def design(self, df: pd.DataFrame, observed: np.ndarray | None = None) -> pd.DataFrame:
        """The model's inputs: the features, and with ``lags`` their first differences and the lagged target."""
        X = df[self.features].astype(float).reset_index(drop=True)
        if not self.lags:
            return X
        y = np.asarray(df[self.target] if observed is None else observed, dtype=float)
        g = df[self.group].to_numpy() if self.group else np.zeros(len(df))
        # as X[c].groupby(g).diff() and y.groupby(g).shift(k), with one index of the previous rows per lag
        a = X.to_numpy(float)
        cols = {c: a[:, j] for j, c in enumerate(self.features)}
        prev = _previous_in_group(g, 1)
        for c in self.features:
            cols[f"{c}_d1"] = _take_or_nan(cols[c], prev, cols[c])
        for k in range(1, self.lags + 1):
            cols[f"{self.target}_lag{k}"] = _take_or_nan(y, prev if k == 1 else _previous_in_group(g, k))
        return pd.DataFrame(cols)

    def fit(self, df: pd.DataFrame) -> ConditionalModel:
        X, y = self.design(df), df[self.target].astype(float).reset_index(drop=True)
        if self.method == "lightgbm":
            import lightgbm as lgb

            self.model = lgb.LGBMRegressor(
                n_estimators=400, learning_rate=0.05, random_state=self.seed,
                verbose=-1, n_jobs=1,
            ).fit(X, y)  # fmt: skip
            self.version = f"lightgbm-{lgb.__version__}-l2-400x0.05-lags{self.lags}-seed{self.seed}"
        elif self.method == "binned":
            X = X[self.features]
            self.bins = np.unique(np.quantile(X.iloc[:, 0], np.linspace(0, 1, 11)))
            b = np.clip(np.searchsorted(self.bins, X.iloc[:, 0], side="right") - 1, 0, len(self.bins) - 2)
            self.medians = np.array(
                [np.median(y[b == i]) if (b == i).any() else np.nan for i in range(len(self.bins) - 1)]
            )
            self.version = "binned-median-deciles"
        else:
            raise ValueError(f"method {self.method!r}: expected 'lightgbm' or 'binned'")
        return self

    def predict(self, df: pd.DataFrame, observed: np.ndarray | None = None) -> np.ndarray:
        """Expected value per row (``observed``: the target values to lag when the frame lacks the column)."""
        X = self.design(df, observed) if self.method == "lightgbm" else df[self.features].astype(float)
        if self.method == "lightgbm":
            # one thread: OpenMP's spinning workers made a 60-row predict take seconds on a loaded 2-core box
            return np.asarray(self.model.predict(X, num_threads=1), dtype=float)
        assert self.bins is not None and self.medians is not None
        b = np.clip(np.searchsorted(self.bins, X.iloc[:, 0], side="right") - 1, 0, len(self.bins) - 2)
        return self.medians[b]

    def top_contributions(self, X: pd.DataFrame, top: int = 3) -> list[list[tuple[str, float]]]:
        """Top contributing inputs of rows of the design matrix ``X`` (:meth:`design`; LightGBM SHAP values)."""
        shap = np.asarray(self.model.predict(X, pred_contrib=True, num_threads=1))[:, :-1]
        names = list(X.columns)
        return [[(names[i], float(row[i])) for i in np.argsort(-np.abs(row))[:top]] for row in shap]

    def contributions(
        self, df: pd.DataFrame, top: int = 3, observed: np.ndarray | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top contributing operating variables to each row's expected value (LightGBM SHAP values; for the
        binned model the load alone)."""
        if self.method != "lightgbm":
            return [[(self.features[0], float("nan"))] for _ in range(len(df))]
        X = self.design(df, observed)
        shap = np.asarray(self.model.predict(X, pred_contrib=True, num_threads=1))[:, :-1]
        names = list(X.columns)
        out = []
        for row in shap:
            order = np.argsort(-np.abs(row))[:top]
            out.append([(names[i], float(row[i])) for i in order])
        return out


@dataclass
class ResidualBand:
    """Online residual band for one (unit, pollutant) with hysteresis.

    ``upper`` = trailing ``q_on`` quantile of the last ``window`` residuals (those before the reading);
    an alarm switches on when the residual exceeds it and off when it falls below the trailing ``q_off``
    quantile.  Until ``min_periods`` residuals are seen the band is undefined and no alarm is raised.
    """

    window: int = 720
    q_on: float = 0.99
    q_off: float = 0.95
    min_periods: int = 100
    _hist: deque = field(default_factory=deque, repr=False)
    on: bool = False

    def update(self, residual: float) -> tuple[float, float, bool, bool]:
        """Score one residual; returns (upper band, lower band, exceeded, alarm state after hysteresis)."""
        h = self._hist
        if len(h) >= self.min_periods:
            arr = np.fromiter(h, float, len(h))
            up, lo = float(np.quantile(arr, self.q_on)), float(np.quantile(arr, self.q_off))
        else:
            up = lo = float("nan")
        exceeded = bool(np.isfinite(up) and residual > up)
        if exceeded:
            self.on = True
        elif self.on and (not np.isfinite(lo) or residual < lo):
            self.on = False
        h.append(residual)
        if len(h) > self.window:
            h.popleft()
        return up, lo, exceeded, self.on


def dynamic_threshold(
    observed: np.ndarray,
    expected: np.ndarray,
    *,
    window: int = 720,
    q_on: float = 0.99,
    q_off: float = 0.95,
    min_periods: int = 100,
) -> pd.DataFrame:
    """Vectorised :class:`ResidualBand` over a whole series (same numbers, causal).

    Returns ``expected, residual, band_high, band_low, exceeded, alarm`` (``band_*`` in the unit of the value:
    expected + trailing residual quantile).
    """
    r = pd.Series(np.asarray(observed, float) - np.asarray(expected, float))
    roll = r.rolling(window, min_periods=min_periods)
    up = roll.quantile(q_on, interpolation="linear").shift(1).to_numpy()
    lo = roll.quantile(q_off, interpolation="linear").shift(1).to_numpy()
    rv = r.to_numpy()
    exceeded = np.isfinite(up) & (rv > up)
    alarm = np.zeros(len(rv), dtype=bool)
    on = False
    for i in range(len(rv)):  # hysteresis: on above the upper band, off below the lower band
        if exceeded[i]:
            on = True
        elif on and (not np.isfinite(lo[i]) or rv[i] < lo[i]):
            on = False
        alarm[i] = on
    exp = np.asarray(expected, float)
    return pd.DataFrame({"expected": exp, "residual": rv, "band_high": exp + up, "band_low": exp + lo,
                         "exceeded": exceeded, "alarm": alarm})  # fmt: skip


def fixed_limit(observed: np.ndarray, limit: float) -> np.ndarray:
    """The regulatory check, kept separate from the dynamic band: ``observed > limit``."""
    return np.asarray(observed, float) > limit


def evaluate_nox(
    *,
    size: float = 0.10,
    share: float = 0.01,
    draws: int = 5,
    window: int = 336,
    q_on: float = 0.99,
    method: str = "lightgbm",
    lags: int = 2,
) -> dict[str, Any]:
    """The gas-turbine NOx benchmark: train 2011–12, test 2014–15, ``+size`` faults on ``share`` of test rows.

    Returns recall and clean false-alarm rate of the dynamic threshold (mean of ``draws`` fault draws), and the
    clean-data alarms of a fixed limit at the training q99 and of the dynamic threshold by load tercile.
    """
    from coreduce.monitor.evaluation import inject_faults, load_gas_turbine

    df = load_gas_turbine()
    X = ["TEY", "AT", "AP", "AH", "AFDP", "GTEP", "TIT", "TAT", "CDP"]
    tr, te = df[df["year"] <= 2012], df[df["year"] >= 2014].reset_index(drop=True)
    model = ConditionalModel(X, "NOX", method=method, lags=lags, group="year").fit(tr)
    recalls, fas, fixed_recalls = [], [], []
    limit = float(np.quantile(tr["NOX"], 0.99))
    for seed in range(draws):
        y, fault = inject_faults(te["NOX"].to_numpy(), share, size, seed)
        d = dynamic_threshold(y, model.predict(te, y), window=window, q_on=q_on)
        recalls.append(float(d["exceeded"][fault].mean()))
        fas.append(float(d["exceeded"][~fault].mean()))
        fixed_recalls.append(float(fixed_limit(y, limit)[fault].mean()))
    clean = te["NOX"].to_numpy()
    terc = pd.qcut(te["TEY"], 3, labels=["low", "mid", "high"]).astype(str).to_numpy()
    fixed_clean = fixed_limit(clean, limit)
    dyn_clean = dynamic_threshold(clean, model.predict(te, clean), window=window, q_on=q_on)["exceeded"].to_numpy()
    by = {name: {t: int((a & (terc == t)).sum()) for t in ("low", "mid", "high")}
          for name, a in (("fixed", fixed_clean), ("dynamic", dyn_clean))}  # fmt: skip
    return {
        "fault_size": size, "fault_share": share, "draws": draws, "model": model.version, "window": window,
        "q_on": q_on,
        "recall": float(np.mean(recalls)), "false_alarm_rate": float(np.mean(fas)),
        "fixed_limit_mg_m3": limit, "fixed_recall": float(np.mean(fixed_recalls)),
        "clean_alarms_fixed": int(fixed_clean.sum()), "clean_alarms_dynamic": int(dyn_clean.sum()),
        "clean_alarms_by_load_tercile": by, "test_rows": len(te),
    }  # fmt: skip

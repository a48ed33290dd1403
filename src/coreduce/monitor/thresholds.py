"""Dynamic thresholds: the expected value given the operating state, and an online residual band.

A fixed limit alarms at part load (NOx is high there by design of lean-premix burners) and misses a +10 %
drift at full load.  :class:`ConditionalModel` predicts the expected value from the operating state (load,
ambient, temperatures; a LightGBM median regression, or a binned conditional median when LightGBM is not
installed); :class:`ResidualBand` keeps, per (unit, pollutant), a trailing quantile of the residuals seen
*before* each reading (recalibrated online, so the band follows drift) and switches an alarm on above the
upper band and off only below a lower band (hysteresis).  :func:`fixed_limit` is the separate regulatory check.
"""

from __future__ import annotations

import functools
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
    scale : bool
        Also fit a *scale model* (LightGBM only): the expected size of the relative residual ``y / yhat - 1``
        given the same inputs, so that a band can be put on the standardised relative residual
        (:func:`band_score` with ``scale``; :meth:`predict_scale`).  Its target is ``|r - median(r)|`` of
        *out-of-fold* relative residuals of the training rows (split into ``scale_folds`` contiguous blocks in
        their order; each block's residuals from the model fit on the others: in-sample residuals of a boosted
        model are too small, and the out-of-fold ones include the drift between blocks, e.g. between the two
        training years); squared-error regression, 200 trees, learning rate 0.05, 15 leaves, at least 50 rows a
        leaf.  The model of the expected value is the same with or without it.  The residual divided by a fitted
        model of its mean absolute deviation is the "locally weighted" score of Lei, G'Sell, Rinaldo, Tibshirani &
        Wasserman (2018), *JASA* 113:1094, section 5.2 (there for conformal intervals; here the band's trailing
        quantile plays the calibration set's part).
    """

    features: list[str]
    target: str
    method: str = "lightgbm"
    lags: int = 0
    group: str | None = None
    seed: int = 0
    scale: bool = False
    scale_folds: int = 2
    model: Any = None
    scale_model: Any = None
    bins: np.ndarray | None = None
    medians: np.ndarray | None = None
    version: str = ""
    #: training terciles of the load (the first feature), set by :meth:`fit`: the edges of :meth:`load_state`
    state_edges: np.ndarray | None = None

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

    def _regressor(self) -> Any:
        import lightgbm as lgb

        return lgb.LGBMRegressor(n_estimators=400, learning_rate=0.05, random_state=self.seed, verbose=-1, n_jobs=1)

    def fit(self, df: pd.DataFrame) -> ConditionalModel:
        X, y = self.design(df), df[self.target].astype(float).reset_index(drop=True)
        self.state_edges = np.quantile(df[self.features[0]].astype(float), [1 / 3, 2 / 3])
        if self.method == "lightgbm":
            import lightgbm as lgb

            self.model = self._regressor().fit(X, y)
            self.version = f"lightgbm-{lgb.__version__}-l2-400x0.05-lags{self.lags}-seed{self.seed}"
            if self.scale:
                self._fit_scale(X, y.to_numpy())
                self.version += f"-scale{self.scale_folds}fold"
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

    def _fit_scale(self, X: pd.DataFrame, y: np.ndarray) -> None:
        """The scale model (see ``scale``): out-of-fold relative residuals, then |r - median| on the inputs."""
        import lightgbm as lgb

        oof = np.full(len(y), np.nan)
        for block in np.array_split(np.arange(len(y)), self.scale_folds):
            rest = np.ones(len(y), dtype=bool)
            rest[block] = False
            pred = self._regressor().fit(X[rest], y[rest]).predict(X.iloc[block], num_threads=1)
            oof[block] = band_score(y[block], pred, "rel")
        ok = np.isfinite(oof)
        dev = np.abs(oof[ok] - np.median(oof[ok]))
        self.scale_model = lgb.LGBMRegressor(
            n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=50, random_state=self.seed,
            verbose=-1, n_jobs=1,
        ).fit(X[ok], dev)  # fmt: skip

    def scale_of(self, X: pd.DataFrame) -> np.ndarray:
        """Expected size of the relative residual (dimensionless) for rows of the design matrix ``X``
        (:meth:`design`), floored at :data:`SCALE_FLOOR`."""
        if self.scale_model is None:
            raise ValueError("this model has no scale model: fit it with scale=True")
        return np.maximum(np.asarray(self.scale_model.predict(X, num_threads=1), dtype=float), SCALE_FLOOR)

    def predict_scale(self, df: pd.DataFrame, observed: np.ndarray | None = None) -> np.ndarray:
        """:meth:`scale_of` the rows of ``df`` (the inputs of :meth:`predict`)."""
        return self.scale_of(self.design(df, observed))

    def predict(self, df: pd.DataFrame, observed: np.ndarray | None = None) -> np.ndarray:
        """Expected value per row (``observed``: the target values to lag when the frame lacks the column)."""
        X = self.design(df, observed) if self.method == "lightgbm" else df[self.features].astype(float)
        if self.method == "lightgbm":
            # one thread: OpenMP's spinning workers made a 60-row predict take seconds on a loaded 2-core box
            return np.asarray(self.model.predict(X, num_threads=1), dtype=float)
        assert self.bins is not None and self.medians is not None
        b = np.clip(np.searchsorted(self.bins, X.iloc[:, 0], side="right") - 1, 0, len(self.bins) - 2)
        return self.medians[b]

    def load_state(self, load: np.ndarray | pd.Series) -> np.ndarray:
        """Load state of each reading: 0 / 1 / 2 = lowest / middle / highest tercile of the training load (the
        first feature; :attr:`state_edges`), -1 where the load is unknown (NaN)."""
        assert self.state_edges is not None, "fit the model first"
        return load_state(load, self.state_edges)

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


def load_state(load: np.ndarray | pd.Series, edges: np.ndarray) -> np.ndarray:
    """0 .. len(edges) = the bin of ``load`` between ``edges`` (ascending; a value on an edge goes up), -1 for NaN."""
    v = np.asarray(load, dtype=float)
    st = np.searchsorted(np.asarray(edges, dtype=float), v, side="right")
    return np.where(np.isnan(v), -1, st).astype(np.intp)


#: Floor of :meth:`ConditionalModel.scale_of` (a relative residual of 0.1 %, about a twentieth of the smallest
#: scale predicted on the gas-turbine data), so that a standardised score never divides by ~0.
SCALE_FLOOR = 1e-3


def band_score(
    observed: np.ndarray, expected: np.ndarray, score: str = "abs", scale: np.ndarray | None = None
) -> np.ndarray:
    """What the band is put on: ``"abs"`` the residual ``observed - expected`` (value unit), ``"rel"`` the
    relative residual ``observed / expected - 1`` (NaN where ``expected <= 0``).  A fault that scales the value
    (+10 %) moves the relative residual by the same amount at every load; the absolute residual moves less at full
    load, where NOx is lowest.  ``scale`` (:meth:`ConditionalModel.scale_of`, in the unit of the score): the
    score divided by it, the residual standardised by its expected size in that operating state."""
    o, e = np.asarray(observed, dtype=float), np.asarray(expected, dtype=float)
    if score == "abs":
        out = o - e
    elif score == "rel":
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(e > 0, o / np.where(e > 0, e, 1.0) - 1.0, np.nan)
    else:
        raise ValueError(f"score {score!r}: expected 'abs' or 'rel'")
    return out if scale is None else out / np.asarray(scale, dtype=float)


def band_value(expected: np.ndarray, q: np.ndarray, score: str = "abs", scale: np.ndarray | None = None) -> np.ndarray:
    """A band on the score given back in the unit of the value: ``expected + q`` or ``expected * (1 + q)``
    (``q * scale`` for a standardised score)."""
    e = np.asarray(expected, dtype=float)
    q = q if scale is None else q * np.asarray(scale, dtype=float)
    return e + q if score == "abs" else e * (1.0 + q)


#: The NOx band chosen on 2013 (validation; model trained on 2011-12, +10 % faults on 1 % of rows, 20 draws;
#: :func:`select_nox_band`), see ``docs/monitor.md``: the relative residual standardised by the model's scale
#: (:meth:`ConditionalModel.scale_of`: its expected size given the operating state and the last readings), one
#: pooled trailing band of 336 readings, on at its q99.2 (the lowest grid quantile, in steps of 0.0005, whose
#: validation false-alarm rate is <= 1 % in each quarter of 2013: 0.71 % over the year, 0.95 % in the worst
#: quarter), off below its q95.  Needs a model fit with ``scale=True``.
NOX_BAND: dict[str, Any] = {"score": "rel", "scaled": True, "by_state": False, "window": 336, "q_on": 0.992,
                            "q_off": 0.95, "min_periods": 100}  # fmt: skip
#: The NOx band before :data:`NOX_BAND` (chosen on 2013 the same way, without the scaled candidates): the relative
#: residual, one band per training load tercile of 168 readings of that tercile, q99.5.
NOX_BAND_V2: dict[str, Any] = {"score": "rel", "scaled": False, "by_state": True, "window": 168, "q_on": 0.995,
                               "q_off": 0.95, "min_periods": 100}  # fmt: skip
#: The first NOx band: the residual, pooled, 336 readings, q99.
NOX_BAND_V1: dict[str, Any] = {"score": "abs", "scaled": False, "by_state": False, "window": 336, "q_on": 0.99,
                               "q_off": 0.95, "min_periods": 100}  # fmt: skip


@dataclass
class ResidualBand:
    """Online residual band for one (unit, pollutant) with hysteresis.

    ``upper`` = trailing ``q_on`` quantile of the last ``window`` scores (those before the reading);
    an alarm switches on when the score exceeds it and off when it falls below the trailing ``q_off``
    quantile.  Until ``min_periods`` scores are seen the band is undefined and no alarm is raised.  With a
    ``state`` given to :meth:`update` (``>= 0``), the quantiles are those of the last ``window`` scores of that
    state, the pooled ones while that state has fewer than ``min_periods`` (:func:`dynamic_threshold` with
    ``state``).
    """

    window: int = 720
    q_on: float = 0.99
    q_off: float = 0.95
    min_periods: int = 100
    _hist: deque = field(default_factory=deque, repr=False)
    _by_state: dict = field(default_factory=dict, repr=False)
    on: bool = False

    def _quantiles(self, h: deque) -> tuple[float, float]:
        if len(h) < self.min_periods:
            return float("nan"), float("nan")
        arr = np.fromiter(h, float, len(h))
        return float(np.quantile(arr, self.q_on)), float(np.quantile(arr, self.q_off))

    def update(self, residual: float, state: int | None = None) -> tuple[float, float, bool, bool]:
        """Score one residual (or relative residual); returns (upper band, lower band, exceeded, alarm state after
        hysteresis), the bands in the unit of the score."""
        up, lo = self._quantiles(self._hist)
        hs = None
        if state is not None and state >= 0:
            hs = self._by_state.setdefault(int(state), deque())
            if len(hs) >= self.min_periods:
                up, lo = self._quantiles(hs)
        exceeded = bool(np.isfinite(up) and residual > up)
        if exceeded:
            self.on = True
        elif self.on and (not np.isfinite(lo) or residual < lo):
            self.on = False
        for h in (self._hist, hs):
            if h is not None:
                h.append(residual)
                if len(h) > self.window:
                    h.popleft()
        return up, lo, exceeded, self.on


def _trailing(r: pd.Series, window: int, min_periods: int, q: float) -> np.ndarray:
    return r.rolling(window, min_periods=min_periods).quantile(q, interpolation="linear").shift(1).to_numpy()


def dynamic_threshold(
    observed: np.ndarray,
    expected: np.ndarray,
    *,
    window: int = 720,
    q_on: float = 0.99,
    q_off: float = 0.95,
    min_periods: int = 100,
    score: str = "abs",
    state: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> pd.DataFrame:
    """Vectorised :class:`ResidualBand` over a whole series (same numbers, causal).

    ``score``: the band is on the residual (``"abs"``) or the relative residual (``"rel"``, :func:`band_score`).
    ``state`` (e.g. :meth:`ConditionalModel.load_state`): the band of each reading is the trailing quantile of
    the last ``window`` scores *of its state* (the pooled band of the last ``window`` readings while the state has
    fewer than ``min_periods``, or where the state is -1); the hysteresis runs over the whole series.
    ``scale`` (:meth:`ConditionalModel.scale_of`): the score standardised by the expected size of the residual in
    each reading's operating state (:func:`band_score`).

    Returns ``expected, residual, band_score, band_high, band_low, exceeded, alarm`` (``residual`` = observed -
    expected, ``band_score`` what the band is on; ``band_*`` in the unit of the value: the expected value with the
    trailing score quantile applied).
    """
    exp = np.asarray(expected, float)
    rv = np.asarray(observed, float) - exp
    sv = band_score(observed, exp, score, scale)
    s = pd.Series(sv)
    up, lo = _trailing(s, window, min_periods, q_on), _trailing(s, window, min_periods, q_off)
    if state is not None:
        st = np.asarray(state)
        for k in np.unique(st[st >= 0]):
            idx = np.flatnonzero(st == k)
            sk = pd.Series(sv[idx])
            uk, lk = _trailing(sk, window, min_periods, q_on), _trailing(sk, window, min_periods, q_off)
            have = np.isfinite(uk)  # the state's own band once it has min_periods scores
            up[idx[have]], lo[idx[have]] = uk[have], lk[have]
    exceeded = np.isfinite(up) & (sv > up)
    alarm = np.zeros(len(sv), dtype=bool)
    on = False
    for i in range(len(sv)):  # hysteresis: on above the upper band, off below the lower band
        if exceeded[i]:
            on = True
        elif on and (not np.isfinite(lo[i]) or sv[i] < lo[i]):
            on = False
        alarm[i] = on
    return pd.DataFrame({"expected": exp, "residual": rv, "band_score": sv,
                         "band_high": band_value(exp, up, score, scale), "band_low": band_value(exp, lo, score, scale),
                         "exceeded": exceeded, "alarm": alarm})  # fmt: skip


def fixed_limit(observed: np.ndarray, limit: float) -> np.ndarray:
    """The regulatory check, kept separate from the dynamic band: ``observed > limit``."""
    return np.asarray(observed, float) > limit


#: The gas-turbine years: the model is trained on 2011-12; 2013 is the validation year on which the band was
#: chosen (:func:`select_nox_band`), 2014-15 the test years (the split of the data set's PROVENANCE.md).
NOX_TRAIN, NOX_VALIDATION, NOX_TEST = (2011, 2012), (2013,), (2014, 2015)
NOX_FEATURES = ["TEY", "AT", "AP", "AH", "AFDP", "GTEP", "TIT", "TAT", "CDP"]


#: The NOx model of the benchmark (and of the MQTT benchmark's live monitor): one-step LightGBM with 2 lags and
#: the scale model that standardises the relative residual (:class:`ConditionalModel`, ``scale``).
NOX_MODEL: dict[str, Any] = {"lags": 2, "group": "year", "scale": True}


@functools.lru_cache(maxsize=4)
def _nox_model(method: str, lags: int) -> ConditionalModel:
    """The NOx model fit on the training years (cached: fitting it with its scale model takes seconds)."""
    from coreduce.monitor.evaluation import load_gas_turbine

    df = load_gas_turbine()
    kw = {**NOX_MODEL, "lags": lags, "scale": NOX_MODEL["scale"] and method == "lightgbm"}
    return ConditionalModel(NOX_FEATURES, "NOX", method=method, **kw).fit(df[df["year"].isin(NOX_TRAIN)])


def _nox_split(years: tuple[int, ...], method: str, lags: int) -> tuple[pd.DataFrame, pd.DataFrame, ConditionalModel]:
    from coreduce.monitor.evaluation import load_gas_turbine

    df = load_gas_turbine()
    tr = df[df["year"].isin(NOX_TRAIN)]
    te = df[df["year"].isin(years)].reset_index(drop=True)
    return tr, te, _nox_model(method, lags)


def _expected_and_scale(model: ConditionalModel, df: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected value and (with a scale model, else ones) the scale of the relative residual, one design."""
    if model.method != "lightgbm":
        return model.predict(df, y), np.ones(len(df))
    X = model.design(df, y)
    pred = np.asarray(model.model.predict(X, num_threads=1), dtype=float)
    return pred, model.scale_of(X) if model.scale_model is not None else np.ones(len(df))


def _band_args(model: ConditionalModel, te: pd.DataFrame, band: dict[str, Any]) -> dict[str, Any]:
    """:func:`dynamic_threshold` arguments of a band given as ``NOX_BAND`` is (``by_state``, ``scaled`` flags)."""
    b = dict(band)
    b["state"] = model.load_state(te[model.features[0]]) if b.pop("by_state", False) else None
    b["_scaled"] = b.pop("scaled", False)
    return b


def _band_alarms(model: ConditionalModel, te: pd.DataFrame, y: np.ndarray, band: dict[str, Any]) -> np.ndarray:
    b = _band_args(model, te, band)
    pred, scale = _expected_and_scale(model, te, y)
    scaled = b.pop("_scaled")
    return dynamic_threshold(y, pred, scale=scale if scaled else None, **b)["exceeded"].to_numpy()


def evaluate_nox(
    *,
    size: float = 0.10,
    share: float = 0.01,
    draws: int = 5,
    method: str = "lightgbm",
    lags: int = 2,
    years: tuple[int, ...] = NOX_TEST,
    seed0: int = 0,
    **band: Any,
) -> dict[str, Any]:
    """The gas-turbine NOx benchmark: train 2011-12, test 2014-15 (``years``), ``+size`` faults on ``share`` of the
    rows (fault draws ``seed0 .. seed0 + draws - 1``).

    ``band``: the arguments of :func:`dynamic_threshold` (``score``, ``window``, ``q_on``, ``q_off``,
    ``min_periods``), ``by_state`` (a band per training load tercile, :meth:`ConditionalModel.load_state`) and
    ``scaled`` (the score divided by the model's scale, :meth:`ConditionalModel.scale_of`); those not given are
    :data:`NOX_BAND`'s.  The bands before it: ``evaluate_nox(**NOX_BAND_V2)`` (relative residual per load tercile,
    window 168, q99.5) and ``evaluate_nox(**NOX_BAND_V1)`` (residual, pooled, window 336, q99).

    Returns recall and clean false-alarm rate of the band (mean of ``draws`` fault draws), and its clean-data
    alarms by load tercile (terciles of the evaluated rows' TEY) beside those of two fixed limits: the training q99
    of NOx, and the limit that raises as many clean-data alarms as the band (the matched false-alarm rate).
    """
    from coreduce.monitor.evaluation import inject_faults

    b = {**NOX_BAND, **band}
    tr, te, model = _nox_split(tuple(years), method, lags)
    recalls, fas, fixed_recalls = [], [], []
    limit = float(np.quantile(tr["NOX"], 0.99))
    for seed in range(seed0, seed0 + draws):
        y, fault = inject_faults(te["NOX"].to_numpy(), share, size, seed)
        ex = _band_alarms(model, te, y, b)
        recalls.append(float(ex[fault].mean()))
        fas.append(float(ex[~fault].mean()))
        fixed_recalls.append(float(fixed_limit(y, limit)[fault].mean()))
    clean = te["NOX"].to_numpy()
    terc = pd.qcut(te["TEY"], 3, labels=["low", "mid", "high"]).astype(str).to_numpy()
    fixed_clean = fixed_limit(clean, limit)
    dyn_clean = _band_alarms(model, te, clean, b)
    n_dyn = int(dyn_clean.sum())
    # the fixed limit with as many clean-data alarms as the band: the n_dyn-th highest clean value is the last
    # one above it (ties aside)
    srt = np.sort(clean)
    matched = float(srt[-n_dyn - 1]) if 0 < n_dyn < len(srt) else float("inf")
    matched_clean = fixed_limit(clean, matched)
    named = (("fixed", fixed_clean), ("dynamic", dyn_clean), ("fixed_matched", matched_clean))
    by = {name: {t: int((a & (terc == t)).sum()) for t in ("low", "mid", "high")} for name, a in named}
    return {
        "fault_size": size, "fault_share": share, "draws": draws, "seed0": seed0, "years": list(years),
        "model": model.version, "band": b,
        "recall": float(np.mean(recalls)), "false_alarm_rate": float(np.mean(fas)),
        "fixed_limit_mg_m3": limit, "fixed_recall": float(np.mean(fixed_recalls)),
        "fixed_matched_limit_mg_m3": matched,
        "clean_alarms_fixed": int(fixed_clean.sum()), "clean_alarms_dynamic": n_dyn,
        "clean_alarms_fixed_matched": int(matched_clean.sum()),
        "clean_alarms_by_load_tercile": by, "test_rows": len(te),
    }  # fmt: skip


#: The candidates :func:`select_nox_band` compares on the validation year (each at the q_on that gives a 1 %
#: false-alarm rate there): the score (residual / relative residual, standardised by the model's scale or not),
#: pooled or per load tercile, the window (168 or 336: the live monitor's cost per reading grows with it).
NOX_CANDIDATES: dict[str, dict[str, Any]] = {
    "abs-pooled-336": {"score": "abs", "by_state": False, "window": 336},
    "rel-pooled-336": {"score": "rel", "by_state": False, "window": 336},
    "abs-state-168": {"score": "abs", "by_state": True, "window": 168},
    "rel-state-168": {"score": "rel", "by_state": True, "window": 168},
    "rel-state-336": {"score": "rel", "by_state": True, "window": 336},
    "relz-pooled-168": {"score": "rel", "scaled": True, "by_state": False, "window": 168},
    "relz-pooled-336": {"score": "rel", "scaled": True, "by_state": False, "window": 336},
    "relz-state-168": {"score": "rel", "scaled": True, "by_state": True, "window": 168},
}

#: The q_on grid of :func:`compare_nox_bands`: 0.985 .. 0.998 in steps of 0.0005.
NOX_Q_GRID: tuple[float, ...] = tuple(np.round(np.arange(0.985, 0.99801, 0.0005), 4))


def compare_nox_bands(
    candidates: dict[str, dict[str, Any]] | None = None,
    *,
    years: tuple[int, ...] = NOX_VALIDATION,
    seed0: int = 1000,
    draws: int = 20,
    rate: float = 0.01,
    q_grid: tuple[float, ...] = NOX_Q_GRID,
    parts: int = 4,
) -> dict[str, Any]:
    """Band candidates at a matched false-alarm rate on ``years`` (model trained on 2011-12; ``+10 %`` faults on
    1 % of rows, draws ``seed0 ..``): per candidate, recall, clean-data alarms and those in the lowest-load tercile
    interpolated at the false-alarm rate ``rate`` along ``q_grid``; the lowest grid ``q_on`` whose false-alarm
    rate is <= ``rate`` over all the rows, and the lowest whose false-alarm rate is <= ``rate`` in each of
    ``parts`` consecutive parts of the rows (quarters of a year: a rate that holds period by period), each with
    its recall and false-alarm rate."""
    from coreduce.monitor.evaluation import inject_faults

    _, te, model = _nox_split(tuple(years), "lightgbm", 2)
    clean = te["NOX"].to_numpy()
    low = (pd.qcut(te["TEY"], 3, labels=False) == 0).to_numpy()
    draws_ = [inject_faults(clean, 0.01, 0.10, s) for s in range(seed0, seed0 + draws)]
    preds = [_expected_and_scale(model, te, y) for y, _ in draws_]
    pred_clean = _expected_and_scale(model, te, clean)
    blocks = np.array_split(np.arange(len(te)), parts)
    out: dict[str, Any] = {}
    for name, c in (candidates or NOX_CANDIDATES).items():
        c = _band_args(model, te, {"min_periods": 100, "q_off": 0.95, **c})
        scaled = c.pop("_scaled")
        pts, worst = [], []
        for q in q_grid:
            rec, fa, fa_part = [], [], []
            for (y, f), (p, s) in zip(draws_, preds, strict=True):
                ex = dynamic_threshold(y, p, q_on=q, scale=s if scaled else None, **c)["exceeded"].to_numpy()
                rec.append(ex[f].mean())
                fa.append(ex[~f].mean())
                fa_part.append([ex[b][~f[b]].mean() for b in blocks])
            worst.append(float(np.max(np.mean(fa_part, axis=0))))  # the worst part's rate (mean over draws)
            p, s = pred_clean
            ec = dynamic_threshold(clean, p, q_on=q, scale=s if scaled else None, **c)["exceeded"].to_numpy()
            pts.append((q, float(np.mean(rec)), float(np.mean(fa)), int(ec.sum()), int((ec & low).sum())))
        a = np.array(pts)
        o = np.argsort(a[:, 2], kind="stable")
        at = [float(np.interp(rate, a[o, 2], a[o, j])) for j in (1, 3, 4)]
        ok, okp = a[a[:, 2] <= rate], a[np.array(worst) <= rate]
        wp = dict(zip(a[:, 0], worst, strict=True))
        out[name] = {"recall_at_rate": at[0], "clean_alarms_at_rate": at[1], "low_tercile_at_rate": at[2],
                     "low_share_at_rate": at[2] / at[1] if at[1] else float("nan"),
                     "q_on_first_le_rate": float(ok[0, 0]) if len(ok) else None,
                     "recall_at_that_q": float(ok[0, 1]) if len(ok) else None,
                     "false_alarm_rate_at_that_q": float(ok[0, 2]) if len(ok) else None,
                     "q_on_first_le_rate_each_part": float(okp[0, 0]) if len(okp) else None,
                     "recall_at_that_q_each_part": float(okp[0, 1]) if len(okp) else None,
                     "false_alarm_rate_at_that_q_each_part": float(okp[0, 2]) if len(okp) else None,
                     "worst_part_false_alarm_rate_at_that_q": wp[okp[0, 0]] if len(okp) else None}  # fmt: skip
    return {"years": list(years), "draws": draws, "seed0": seed0, "rate": rate, "candidates": out}


def select_nox_band(candidates: dict[str, dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    """:func:`compare_nox_bands` on the validation year 2013 (fault draws 1000-1019, not those of the test) at a
    1 % false-alarm rate: how :data:`NOX_BAND` was chosen (the candidate with the highest recall there; its
    ``q_on`` the lowest grid quantile, in steps of 0.0005, with <= 1 % false alarms in each quarter of 2013: the
    rate varies from quarter to quarter, 0.60-1.24 % at the q_on that gives 0.99 % over the year)."""
    res = compare_nox_bands(candidates, **{"years": NOX_VALIDATION, "seed0": 1000, "draws": 20, "rate": 0.01, **kw})
    res["chosen"] = max(res["candidates"], key=lambda k: res["candidates"][k]["recall_at_rate"])
    ch = res["candidates"][res["chosen"]]
    res["chosen_band"] = {**(candidates or NOX_CANDIDATES)[res["chosen"]], "q_on": ch["q_on_first_le_rate_each_part"]}
    return res

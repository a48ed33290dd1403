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

    def fit(self, df: pd.DataFrame) -> ConditionalModel:
        X, y = self.design(df), df[self.target].astype(float).reset_index(drop=True)
        self.state_edges = np.quantile(df[self.features[0]].astype(float), [1 / 3, 2 / 3])
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


def band_score(observed: np.ndarray, expected: np.ndarray, score: str = "abs") -> np.ndarray:
    """What the band is put on: ``"abs"`` the residual ``observed - expected`` (value unit), ``"rel"`` the
    relative residual ``observed / expected - 1`` (NaN where ``expected <= 0``).  A fault that scales the value
    (+10 %) moves the relative residual by the same amount at every load; the absolute residual moves less at full
    load, where NOx is lowest."""
    o, e = np.asarray(observed, dtype=float), np.asarray(expected, dtype=float)
    if score == "abs":
        return o - e
    if score == "rel":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(e > 0, o / np.where(e > 0, e, 1.0) - 1.0, np.nan)
    raise ValueError(f"score {score!r}: expected 'abs' or 'rel'")


def band_value(expected: np.ndarray, q: np.ndarray, score: str = "abs") -> np.ndarray:
    """A band on the score given back in the unit of the value: ``expected + q`` or ``expected * (1 + q)``."""
    e = np.asarray(expected, dtype=float)
    return e + q if score == "abs" else e * (1.0 + q)


#: The NOx band chosen on 2013 (validation; model trained on 2011-12, +10 % faults on 1 % of rows, 20 draws), see
#: ``docs/monitor.md``: the relative residual, a trailing band per load tercile of 168 readings of that tercile
#: (pooled band of the last 168 readings until a tercile has 100), on at its q99.5 (the grid step at which the
#: validation false-alarm rate first falls to <= 1 %: 0.95 %), off below its q95.
NOX_BAND: dict[str, Any] = {"score": "rel", "by_state": True, "window": 168, "q_on": 0.995, "q_off": 0.95,
                            "min_periods": 100}  # fmt: skip


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
) -> pd.DataFrame:
    """Vectorised :class:`ResidualBand` over a whole series (same numbers, causal).

    ``score``: the band is on the residual (``"abs"``) or the relative residual (``"rel"``, :func:`band_score`).
    ``state`` (e.g. :meth:`ConditionalModel.load_state`): the band of each reading is the trailing quantile of
    the last ``window`` scores *of its state* (the pooled band of the last ``window`` readings while the state has
    fewer than ``min_periods``, or where the state is -1); the hysteresis runs over the whole series.

    Returns ``expected, residual, band_score, band_high, band_low, exceeded, alarm`` (``residual`` = observed -
    expected, ``band_score`` what the band is on; ``band_*`` in the unit of the value: the expected value with the
    trailing score quantile applied).
    """
    exp = np.asarray(expected, float)
    rv = np.asarray(observed, float) - exp
    sv = band_score(observed, exp, score)
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
    return pd.DataFrame({"expected": exp, "residual": rv, "band_score": sv, "band_high": band_value(exp, up, score),
                         "band_low": band_value(exp, lo, score), "exceeded": exceeded, "alarm": alarm})  # fmt: skip


def fixed_limit(observed: np.ndarray, limit: float) -> np.ndarray:
    """The regulatory check, kept separate from the dynamic band: ``observed > limit``."""
    return np.asarray(observed, float) > limit


#: The gas-turbine years: the model is trained on 2011-12; 2013 is the validation year on which the band was
#: chosen (:func:`select_nox_band`), 2014-15 the test years (the split of the data set's PROVENANCE.md).
NOX_TRAIN, NOX_VALIDATION, NOX_TEST = (2011, 2012), (2013,), (2014, 2015)
NOX_FEATURES = ["TEY", "AT", "AP", "AH", "AFDP", "GTEP", "TIT", "TAT", "CDP"]


def _nox_split(years: tuple[int, ...], method: str, lags: int) -> tuple[pd.DataFrame, pd.DataFrame, ConditionalModel]:
    from coreduce.monitor.evaluation import load_gas_turbine

    df = load_gas_turbine()
    tr = df[df["year"].isin(NOX_TRAIN)]
    te = df[df["year"].isin(years)].reset_index(drop=True)
    return tr, te, ConditionalModel(NOX_FEATURES, "NOX", method=method, lags=lags, group="year").fit(tr)


def _band_alarms(model: ConditionalModel, te: pd.DataFrame, y: np.ndarray, band: dict[str, Any]) -> np.ndarray:
    b = dict(band)
    state = model.load_state(te[model.features[0]]) if b.pop("by_state", False) else None
    return dynamic_threshold(y, model.predict(te, y), state=state, **b)["exceeded"].to_numpy()


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
    ``min_periods``) and ``by_state`` (a band per training load tercile, :meth:`ConditionalModel.load_state`);
    those not given are :data:`NOX_BAND`'s.  The band before :data:`NOX_BAND` (absolute residual, pooled,
    window 336, q99) is ``evaluate_nox(score="abs", by_state=False, window=336, q_on=0.99, min_periods=100)``.

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
#: false-alarm rate there): the score (residual / relative residual), pooled or per load tercile, the window.
NOX_CANDIDATES: dict[str, dict[str, Any]] = {
    "abs-pooled-336": {"score": "abs", "by_state": False, "window": 336},
    "rel-pooled-336": {"score": "rel", "by_state": False, "window": 336},
    "abs-state-168": {"score": "abs", "by_state": True, "window": 168},
    "rel-state-168": {"score": "rel", "by_state": True, "window": 168},
    "rel-state-336": {"score": "rel", "by_state": True, "window": 336},
}


def compare_nox_bands(
    candidates: dict[str, dict[str, Any]] | None = None,
    *,
    years: tuple[int, ...] = NOX_VALIDATION,
    seed0: int = 1000,
    draws: int = 20,
    rate: float = 0.01,
    q_grid: tuple[float, ...] = tuple(np.round(np.arange(0.985, 0.9986, 0.001), 3)),
) -> dict[str, Any]:
    """Band candidates at a matched false-alarm rate on ``years`` (model trained on 2011-12; ``+10 %`` faults on
    1 % of rows, draws ``seed0 ..``): per candidate, recall, clean-data alarms and those in the lowest-load tercile
    interpolated at the false-alarm rate ``rate`` along ``q_grid``, and the lowest grid ``q_on`` whose
    false-alarm rate is <= ``rate``."""
    from coreduce.monitor.evaluation import inject_faults

    _, te, model = _nox_split(tuple(years), "lightgbm", 2)
    clean = te["NOX"].to_numpy()
    low = (pd.qcut(te["TEY"], 3, labels=False) == 0).to_numpy()
    draws_ = [inject_faults(clean, 0.01, 0.10, s) for s in range(seed0, seed0 + draws)]
    preds = [model.predict(te, y) for y, _ in draws_]
    pred_clean = model.predict(te, clean)
    out: dict[str, Any] = {}
    for name, c in (candidates or NOX_CANDIDATES).items():
        c = {"min_periods": 100, "q_off": 0.95, **c}
        state = model.load_state(te[model.features[0]]) if c.pop("by_state") else None
        pts = []
        for q in q_grid:
            rec, fa = [], []
            for (y, f), p in zip(draws_, preds, strict=True):
                ex = dynamic_threshold(y, p, state=state, q_on=q, **c)["exceeded"].to_numpy()
                rec.append(ex[f].mean())
                fa.append(ex[~f].mean())
            ec = dynamic_threshold(clean, pred_clean, state=state, q_on=q, **c)["exceeded"].to_numpy()
            pts.append((q, float(np.mean(rec)), float(np.mean(fa)), int(ec.sum()), int((ec & low).sum())))
        a = np.array(pts)
        o = np.argsort(a[:, 2])
        at = [float(np.interp(rate, a[o, 2], a[o, j])) for j in (1, 3, 4)]
        ok = a[a[:, 2] <= rate]
        out[name] = {"recall_at_rate": at[0], "clean_alarms_at_rate": at[1], "low_tercile_at_rate": at[2],
                     "low_share_at_rate": at[2] / at[1] if at[1] else float("nan"),
                     "q_on_first_le_rate": float(ok[0, 0]) if len(ok) else None,
                     "recall_at_that_q": float(ok[0, 1]) if len(ok) else None,
                     "false_alarm_rate_at_that_q": float(ok[0, 2]) if len(ok) else None}  # fmt: skip
    return {"years": list(years), "draws": draws, "seed0": seed0, "rate": rate, "candidates": out}


def select_nox_band(candidates: dict[str, dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    """:func:`compare_nox_bands` on the validation year 2013 (fault draws 1000-1019, not those of the test) at a
    1 % false-alarm rate: how :data:`NOX_BAND` was chosen (the candidate with the highest recall there; its
    ``q_on`` the lowest grid quantile with <= 1 % false alarms)."""
    res = compare_nox_bands(candidates, **{"years": NOX_VALIDATION, "seed0": 1000, "draws": 20, "rate": 0.01, **kw})
    res["chosen"] = max(res["candidates"], key=lambda k: res["candidates"][k]["recall_at_rate"])
    return res

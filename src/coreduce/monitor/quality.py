"""Data-quality flags and causal robust anomaly scores for one reading series.

Every flag at reading ``t`` uses only readings ``<= t`` (trailing windows shifted by one), so the layer can run
on a live stream.  Rules (each a named boolean column of :func:`quality_flags`):

- ``missing``: no numeric value (NaN);
- ``late``: the reading arrived more than ``late_after`` after its timestamp (needs an ``arrived`` column);
- ``non_positive``: ``value <= 0`` for a variable that cannot be zero or negative (demand, load, concentration
  above detection limit: ``positive=True``);
- ``stuck``: the value repeats the previous one ``stuck_after`` times in a row (identical-run rule of
  Ruggles et al. 2020, Sci. Data 7:155, doi:10.1038/s41597-020-0483-x, Table 1: three or more identical values);
- ``spike``: the robust z of the first difference (trailing median/MAD) exceeds ``spike_z``;
- ``out_of_range``: outside the bounds of ``coreduce/schema/bounds.csv`` for (variable, unit) when known;
- ``clock_gap``: the time step since the previous reading exceeds ``1.5 x`` the series' median step.

:func:`robust_z` is the causal robust score; :func:`anomaly_flags` = data-quality rules + robust score of the
value and its first difference, the detector measured on the EIA-930 screening labels
(``benchmarks/monitor.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

#: Scale factor that makes the MAD a consistent estimator of the standard deviation of a normal distribution
#: (1 / Phi^-1(3/4) = 1.4826; Rousseeuw & Croux 1993, JASA 88:1273).
MAD_TO_SD = 1.4826

FLAGS = ("missing", "late", "non_positive", "stuck", "spike", "out_of_range", "clock_gap")


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the data-quality layer (defaults measured on EIA-930, see ``docs/monitor.md``)."""

    window: int = 168  # readings in the trailing robust window (one week of hours)
    min_periods: int = 24
    stuck_after: int = 2  # repeats of the previous value: 2 = third identical value in a row
    spike_z: float = 8.0  # robust z of the first difference for the ``spike`` flag
    score_z: float = 6.0  # robust z of the value or its first difference for the ``anomaly`` score flag
    positive: bool = True
    season: int = 24  # readings per season (24 hourly readings = one day) for the seasonal score
    seasons: int = 7  # seasons in the seasonal median (the same hour of the last 7 days)
    relocate: bool = True  # move a jump flag that is a return to normal to the reading before (1-reading delay)
    normal_z: float = 3.0  # seasonal robust z below which a reading is "back to normal"
    off_z: float = 2.0  # seasonal robust z above which the previous reading was "off"
    late_after: pd.Timedelta = field(default_factory=lambda: pd.Timedelta("15min"))


def robust_z(s: pd.Series, window: int = 168, min_periods: int = 24) -> pd.Series:
    """Causal robust z-score: ``|x_t - median| / (1.4826 MAD)`` of the ``window`` readings *before* ``t``.

    Examples
    --------
    >>> s = pd.Series([9.0, 10.0, 11.0] * 10 + [30.0])   # trailing median 10, MAD 1
    >>> round(float(robust_z(s, window=7, min_periods=7).iloc[-1]), 3)   # median 10, MAD 1 -> 20/1.4826
    13.49
    """
    s = s.astype(float)
    med = s.rolling(window, min_periods=min_periods).median().shift(1)
    mad = (s - med).abs().rolling(window, min_periods=min_periods).median().shift(1) * MAD_TO_SD
    return ((s - med) / mad.replace(0, np.nan)).abs().fillna(0.0)


@lru_cache(maxsize=1)
def bounds() -> pd.DataFrame:
    """``coreduce/schema/bounds.csv`` (variable, unit, min, max, rationale)."""
    with resources.files("coreduce.schema").joinpath("bounds.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def _range_flag(value: pd.Series, variable: str | None, unit: str | None) -> pd.Series:
    if variable is None:
        return pd.Series(False, index=value.index)
    b = bounds()
    row = b[(b["variable"] == variable) & ((b["unit"] == unit) if unit is not None else True)]
    if row.empty:
        return pd.Series(False, index=value.index)
    lo, hi = float(row["min"].iloc[0]), float(row["max"].iloc[0])
    return (value < lo) | (value > hi)


def quality_flags(
    df: pd.DataFrame,
    *,
    variable: str | None = None,
    unit: str | None = None,
    rules: QualityRules = QualityRules(),
) -> pd.DataFrame:
    """Named data-quality flags of one series (one site, one variable), in time order.

    Parameters
    ----------
    df : pandas.DataFrame
        ``ts`` (timestamps, ascending) and ``value`` (float, NaN = missing); optional ``arrived`` (when the
        reading reached the system).
    variable, unit : str, optional
        Used to look up the range of ``bounds.csv`` (``out_of_range`` is False when none is declared).
    rules : QualityRules

    Returns
    -------
    pandas.DataFrame
        One boolean column per name in :data:`FLAGS`, same index as ``df``.
    """
    x = pd.to_numeric(df["value"], errors="coerce").astype(float)
    ts = pd.to_datetime(df["ts"], utc=True)
    dx = x.diff()
    same = (dx == 0).astype(int)
    run = same.groupby((same == 0).cumsum()).cumsum()
    step = ts.diff()
    med_step = step.median() if len(step) > 1 else pd.NaT
    out = pd.DataFrame(index=df.index)
    out["missing"] = x.isna()
    if "arrived" in df.columns:
        out["late"] = (pd.to_datetime(df["arrived"], utc=True) - ts) > rules.late_after
    else:
        out["late"] = False
    out["non_positive"] = (x <= 0) if rules.positive else False
    out["stuck"] = run >= rules.stuck_after
    out["spike"] = robust_z(dx.fillna(0.0), rules.window, rules.min_periods) > rules.spike_z
    out["out_of_range"] = _range_flag(x, variable, unit)
    out["clock_gap"] = (step > 1.5 * med_step) if pd.notna(med_step) else False
    return out.fillna(False).astype(bool)


def seasonal_z(x: pd.Series, season: int = 24, seasons: int = 7, window: int = 336) -> pd.Series:
    """Causal seasonal robust z: the deviation of ``x_t`` from the median of ``x`` one, two … ``seasons`` seasons
    earlier (the same hour of the last 7 days for hourly data), over the trailing MAD of that deviation."""
    x = pd.to_numeric(x, errors="coerce").astype(float)
    seas = pd.concat([x.shift(season * k) for k in range(1, seasons + 1)], axis=1).median(axis=1)
    r = x - seas
    scale = r.abs().rolling(window, min_periods=2 * season).median().shift(1) * MAD_TO_SD
    return (r / scale.replace(0, np.nan)).abs().fillna(0.0)


def anomaly_scores(x: pd.Series, rules: QualityRules = QualityRules()) -> pd.DataFrame:
    """Causal robust scores of the value (``z_value``), its first difference (``z_diff``) and its deviation from
    the same reading of earlier seasons (``z_season``)."""
    x = pd.to_numeric(x, errors="coerce").astype(float)
    return pd.DataFrame({
        "z_value": robust_z(x, rules.window, rules.min_periods),
        "z_diff": robust_z(x.diff().fillna(0.0), rules.window, rules.min_periods),
        "z_season": seasonal_z(x, rules.season, rules.seasons),
    })  # fmt: skip


def anomaly_flags(
    df: pd.DataFrame, *, variable: str | None = None, unit: str | None = None, rules: QualityRules = QualityRules()
) -> pd.DataFrame:
    """Data-quality flags plus the robust-score flag ``score`` and their union ``anomaly``.

    ``score`` = max(robust z of the value, robust z of its first difference) > ``rules.score_z``.

    With ``rules.relocate`` a flag raised at reading ``t`` by a jump or score (not by a data-quality rule) when
    ``t`` is back to normal (seasonal z < ``normal_z``) while ``t-1`` was off (seasonal z > ``off_z``) and not
    flagged is moved to ``t-1``: the jump is the *return* from an anomaly at ``t-1``.  That decision is taken at
    ``t`` with readings up to ``t`` only (causal, one reading of delay); ``relocated`` marks those rows.
    """
    fl = quality_flags(df, variable=variable, unit=unit, rules=rules)
    sc = anomaly_scores(df["value"], rules)
    z = np.maximum(sc["z_value"], sc["z_diff"]).to_numpy()
    fl["score"] = z > rules.score_z
    rule = fl[["non_positive", "stuck", "out_of_range"]].any(axis=1).to_numpy()
    anom = rule | fl["spike"].to_numpy() | fl["score"].to_numpy()
    relocated = np.zeros(len(fl), dtype=bool)
    if rules.relocate and len(fl) > 1:
        zs = sc["z_season"].to_numpy()
        prev_flag = np.r_[True, anom[:-1]]
        move = anom & ~rule & (zs < rules.normal_z) & (np.r_[0.0, zs[:-1]] > rules.off_z) & ~prev_flag
        idx = np.flatnonzero(move)
        anom[idx] = False
        anom[idx - 1] = True
        relocated[idx - 1] = True
    fl["anomaly"] = anom
    fl["relocated"] = relocated
    fl["z"] = z
    fl["z_season"] = sc["z_season"].to_numpy()
    return fl


def runs(flags: np.ndarray | pd.Series) -> list[tuple[int, int]]:
    """Contiguous runs of True as ``(first, last)`` positions (inclusive)."""
    b = np.asarray(flags, dtype=bool)
    idx = np.flatnonzero(b)
    if len(idx) == 0:
        return []
    br = np.flatnonzero(np.diff(idx) > 1)
    return list(zip(np.r_[idx[0], idx[br + 1]].tolist(), np.r_[idx[br], idx[-1]].tolist(), strict=True))


def events(flags: np.ndarray | pd.Series, *, merge_gap: int = 0, cooldown: int = 0) -> list[tuple[int, int]]:
    """Flags merged into events: runs closer than ``merge_gap`` unflagged readings are one event; after an event
    ends, a new one starting within ``cooldown`` readings is folded into it (no re-alarm).

    Examples
    --------
    >>> events([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1])
    [(1, 2), (5, 5), (10, 10)]
    >>> events([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1], merge_gap=2)
    [(1, 5), (10, 10)]
    >>> events([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1], cooldown=5)
    [(1, 5), (10, 10)]
    """
    out: list[tuple[int, int]] = []
    for s, e in runs(flags):
        if out and (s - out[-1][1] - 1 <= merge_gap or s - out[-1][0] < cooldown):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def event_scores(truth: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """Event-wise precision/recall/F1: recall = share of true runs touched by a flag; precision = share of
    flagged runs touching a true run (Wu & Keogh style event matching, no point adjustment)."""
    y, f = np.asarray(truth, bool), np.asarray(flags, bool)
    cy, cf = np.r_[0, np.cumsum(y)], np.r_[0, np.cumsum(f)]
    tr, pr = runs(y), runs(f)
    hit_t = sum(1 for s, e in tr if cf[e + 1] - cf[s] > 0)
    hit_p = sum(1 for s, e in pr if cy[e + 1] - cy[s] > 0)
    return {"true_events": len(tr), "found": hit_t, "pred_events": len(pr), "correct": hit_p}


def f1(found: int, true: int, correct: int, pred: int) -> tuple[float, float, float]:
    """(precision, recall, F1) from event counts."""
    r = found / true if true else 0.0
    p = correct / pred if pred else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _robust_step(hist: np.ndarray, hdev: np.ndarray, new: np.ndarray, w: int, mp: int) -> tuple[np.ndarray, ...]:
    """Robust z of ``new`` readings after ``hist`` (same numbers as :func:`robust_z` on the whole series)."""
    from numpy.lib.stride_tricks import sliding_window_view

    H, n = len(hist), len(new)
    allv = np.concatenate([hist, new])

    def trailing(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if H >= w:
            win = sliding_window_view(a[H - w : H + n - 1], w)
            cnt = np.sum(~np.isnan(win), axis=1)
            with warnings.catch_warnings():  # all-NaN windows give NaN (and are below min_periods anyway)
                warnings.simplefilter("ignore", RuntimeWarning)
                return np.nanmedian(win, axis=1), cnt
        med, cnt = np.full(n, np.nan), np.zeros(n, dtype=int)
        for j in range(n):
            seg = a[max(0, H + j - w) : H + j]
            seg = seg[~np.isnan(seg)]
            cnt[j] = len(seg)
            if len(seg):
                med[j] = np.median(seg)
        return med, cnt

    med, cnt = trailing(allv)
    med = np.where(cnt >= mp, med, np.nan)
    dev = np.abs(new - med)
    alld = np.concatenate([hdev, dev])
    mad, dcnt = trailing(alld)
    mad = np.where(dcnt >= mp, mad, np.nan) * MAD_TO_SD
    with np.errstate(all="ignore"):
        z = np.abs(new - med) / np.where(mad == 0, np.nan, mad)
    return np.nan_to_num(z, nan=0.0), allv[-w:], alld[-w:]


class StreamScorer:
    """Incremental data-quality flags and robust scores per series key (e.g. ``(site, variable)``), for a stream.

    Each :meth:`update` scores only the new readings against the kept trailing window, with the same numbers as
    :func:`anomaly_flags` with ``relocate=False`` on the whole series (tested), at a fraction of the cost.
    """

    def __init__(self, rules: QualityRules | None = None) -> None:
        self.rules = rules or QualityRules(relocate=False)
        self._state: dict[object, dict[str, object]] = {}

    def update(self, key: object, values: np.ndarray) -> dict[str, np.ndarray]:
        r = self.rules
        x = np.asarray(values, dtype=float)
        s = self._state.get(key)
        if s is None:
            s = {"x": np.empty(0), "xd": np.empty(0), "d": np.empty(0), "dd": np.empty(0), "last": np.nan, "run": 0}
            self._state[key] = s
        dx = np.nan_to_num(x - np.r_[s["last"], x[:-1]], nan=0.0)  # as x.diff().fillna(0) on the whole series
        zv, s["x"], s["xd"] = _robust_step(s["x"], s["xd"], x, r.window, r.min_periods)
        zd, s["d"], s["dd"] = _robust_step(s["d"], s["dd"], dx, r.window, r.min_periods)
        same = dx == 0
        run = np.empty(len(x), dtype=int)
        cur = int(s["run"])
        for i, eq in enumerate(same):
            cur = cur + 1 if eq else 0
            run[i] = cur
        s["run"], s["last"] = cur, x[-1] if len(x) else s["last"]
        nonpos = (x <= 0) if r.positive else np.zeros(len(x), bool)
        out = {"z_value": zv, "z_diff": zd, "non_positive": nonpos, "stuck": run >= r.stuck_after,
               "spike": zd > r.spike_z, "score": np.maximum(zv, zd) > r.score_z}  # fmt: skip
        out["anomaly"] = out["non_positive"] | out["stuck"] | out["spike"] | out["score"]
        return out

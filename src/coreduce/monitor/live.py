"""The live monitor: what every streamed reading goes through, batch by batch, with state kept per
(site, variable) between batches.

1. Quality flags (:data:`~coreduce.monitor.quality.FLAGS` plus ``score`` and ``double_delta``): missing,
   late (arrival - reading time > ``rules.late_after``), non-positive, stuck, spike, out of range
   (``bounds.csv``), clock gap (step > 1.5 x the key's trailing median step), robust z of the value and its
   first difference (:class:`~coreduce.monitor.quality.StreamScorer`), the double-sided delta (decided one
   reading late).  They set the stored ``quality`` (``suspect`` / ``invalid`` / ``missing``).
2. Dynamic threshold: the expected value from the variable's :class:`ConditionalModel` given the operating
   state carried by the reading (``state``) or last reported for the site (readings whose variable is a state
   variable), else the trailing median of the key; the band per key is recalibrated online (:class:`OnlineBand`,
   the trailing ``q_on`` / ``q_off`` quantiles of the residual or, ``score="rel"``, of the relative residual; with
   ``by_state`` one band per load tercile of the model's training load, pooled until a tercile has
   ``min_periods``; with ``scaled`` the relative residual divided by the model's expected size of it in that
   operating state: :data:`~coreduce.monitor.thresholds.NOX_BAND`) with hysteresis.  A fixed
   regulatory limit per variable is checked separately.
3. Alerts: the rising edge of the dynamic alarm (``dynamic``), of a quality flag (``quality``) or of the limit
   (``limit``) opens an explained alert (observed, expected, band, top contributing variables, graph path or
   ``unexplained``, action), stored with its ledger run in the batch that raised it; the falling edge stores
   the alert again with its end (same alert id).  A new event of the same key and kind within ``cooldown``
   readings of the last one's end is folded into it.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from coreduce.monitor.alerts import ALERT_COLUMNS, alert_id, store_alerts
from coreduce.monitor.quality import QualityRules, StreamScorer, _range_flag, _seg_windows
from coreduce.monitor.rca import as_json_list, explain, graph_version
from coreduce.monitor.thresholds import ConditionalModel, band_score, band_value

QUALITY_FLAGS = ("stuck", "spike", "non_positive", "out_of_range", "double_delta")
#: Flags that raise a ``quality`` alert by default (the others mark the reading ``suspect`` and are listed in
#: the flags of any alert it raises: a CEMS NOx series jumps with every load change, so spike alerts alone
#: would swamp the operator).
QUALITY_ALERT_FLAGS = ("stuck", "non_positive", "out_of_range")
SYMPTOMS = {"stuck": "value_stuck", "spike": "value_spike", "non_positive": "value_non_positive",
            "out_of_range": "value_out_of_range", "double_delta": "value_spike"}  # fmt: skip


class OnlineBand:
    """Trailing score quantiles of one key, updated a batch at a time (the numbers of
    :func:`~coreduce.monitor.thresholds.dynamic_threshold` on the whole series, with or without load states;
    tested).  With states, each state keeps its own last ``window`` scores; a reading's band is its state's once
    that state has ``min_periods`` scores, the pooled one before (and for state -1)."""

    def __init__(self, window: int = 720, q_on: float = 0.99, q_off: float = 0.95, min_periods: int = 100) -> None:
        self.window, self.q_on, self.q_off, self.min_periods = window, q_on, q_off, min_periods
        self.hist = np.empty(0)
        self.state_hist: dict[int, np.ndarray] = {}
        self.on = False

    def update(
        self, residuals: np.ndarray, states: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(upper, lower, exceeded, alarm after hysteresis) for each new score."""
        return OnlineBand.update_many([self], [residuals], None if states is None else [states])[0]

    @staticmethod
    def update_many(
        bands: list[OnlineBand], residuals: list[np.ndarray], states: list[np.ndarray] | None = None
    ) -> list[tuple[np.ndarray, ...]]:
        """:meth:`update` of several keys' bands at once (same window and quantiles): the keys' windows are rows
        of one array, their quantiles one call, the hysteresis one pass for all keys.  ``states``: each key's
        load state per score (-1 = none: the pooled band)."""
        if not bands:
            return []
        b0 = bands[0]
        w, k = b0.window, len(bands)
        rs = [np.asarray(r, dtype=float) for r in residuals]
        lens = np.array([len(r) for r in rs], dtype=np.intp)
        r = np.concatenate(rs)
        n = len(r)
        hist = np.full((k, w), np.nan)
        for i, band in enumerate(bands):
            h = band.hist[-w:]
            if len(h):
                hist[i, w - len(h) :] = h
        first = np.r_[0, np.cumsum(lens)[:-1]].astype(np.intp)
        seg = np.repeat(np.arange(k), lens)
        q, cnt = _seg_windows(hist, np.arange(k), r, lens, seg, np.arange(n) - first[seg], [b0.q_on, b0.q_off])
        enough = cnt >= b0.min_periods
        up, lo = np.where(enough, q[0], np.nan), np.where(enough, q[1], np.nan)
        if states is not None:
            st = np.concatenate([np.asarray(s, dtype=np.int64) for s in states])
            has = np.flatnonzero(st >= 0)
            if len(has):
                # one window per (key, state): the scores of the key in that state, in time order
                codes, sub = pd.factorize(seg[has].astype(np.int64) * (int(st.max()) + 1) + st[has])
                order = np.argsort(codes, kind="stable")
                slens = np.bincount(codes, minlength=len(sub)).astype(np.intp)
                sfirst = np.r_[0, np.cumsum(slens)[:-1]]
                sseg = codes[order]
                nstate = int(st.max()) + 1
                shist = np.full((len(sub), w), np.nan)
                for j, u in enumerate(sub):
                    h = bands[u // nstate].state_hist.get(int(u % nstate))
                    if h is not None and len(h):
                        shist[j, w - len(h[-w:]) :] = h[-w:]
                sq, scnt = _seg_windows(shist, np.arange(len(sub)), r[has[order]], slens, sseg,
                                        np.arange(len(has)) - sfirst[sseg], [b0.q_on, b0.q_off])  # fmt: skip
                own = scnt >= b0.min_periods
                rows = has[order][own]
                up[rows], lo[rows] = sq[0][own], sq[1][own]
                for j, u in enumerate(sub):
                    bands[u // nstate].state_hist[int(u % nstate)] = shist[j]
        exceeded = np.isfinite(up) & (r > up)
        # hysteresis: on above the upper band, off below the lower band (or without one), else as before
        with np.errstate(invalid="ignore"):
            off = ~exceeded & (~np.isfinite(lo) | (r < lo))
        idx = np.arange(n)
        before = first[seg] - 1
        last_on = np.maximum.accumulate(np.where(exceeded, idx, before)) if n else idx
        last_off = np.maximum.accumulate(np.where(off, idx, before)) if n else idx
        carry = np.array([band.on for band in bands], dtype=bool)
        alarm = np.where(np.maximum(last_on, last_off) > before, last_on > last_off, carry[seg])
        out = []
        for i, band in enumerate(bands):
            band.hist = hist[i]
            sl = slice(first[i], first[i] + lens[i])
            if lens[i]:
                band.on = bool(alarm[first[i] + lens[i] - 1])
            out.append((up[sl], lo[sl], exceeded[sl], alarm[sl]))
        return out


@dataclass
class _Key:
    band: OnlineBand
    last_ts: int | None = None
    steps: deque = field(default_factory=lambda: deque(maxlen=50))
    hist: np.ndarray | None = None  # last rows (state variables, then the value) for a lagged model
    open: dict[str, dict] = field(default_factory=dict)  # kind -> open alert row
    since: dict[str, int] = field(default_factory=dict)  # kind -> readings since the last event ended
    prev: dict[str, bool] = field(default_factory=dict)  # kind -> flag of the previous reading


@dataclass
class BatchResult:
    scored: pd.DataFrame
    alerts: pd.DataFrame
    alert_rows: np.ndarray  # positions (in the batch frame) of the readings that opened an alert
    stored_ns: int = 0
    run_id: str | None = None
    store_cpu_ns: int = 0  # CPU time (thread time) of storing the alerts with their ledger record
    deferred: tuple[pd.DataFrame, dict] | None = None  # (alerts, store_alerts arguments) left to the caller


def _with_group(m: ConditionalModel, column: str) -> ConditionalModel:
    """The same fitted model reading its lag chains from ``column``."""
    from dataclasses import replace

    return replace(m, group=column)


class LiveMonitor:
    """Quality flags, dynamic threshold, scores and explained alerts on a stream (see the module docstring).

    Parameters
    ----------
    store : Store, optional
        Where alerts are stored with their ledger run (``None``: alerts are returned only).
    models : dict, optional
        Variable -> fitted :class:`ConditionalModel` (its ``features`` are the state variables).
    terciles : dict, optional
        Variable -> training terciles of its model's state variables (the graph's low/high conditions).
    limits : dict, optional
        Variable -> fixed regulatory limit in the reading's unit.
    watch : iterable of str, optional
        Variables whose dynamic band raises alerts (default: those with a model; every variable when there
        is none).  Every reading of every variable is flagged, scored and banded either way.
    quality_alerts : iterable of str
        Quality flags that raise a ``quality`` alert.
    score, by_state, scaled :
        The band's score (``"abs"`` residual, ``"rel"`` relative residual), whether it is kept per load state
        of the variable's model (:meth:`ConditionalModel.load_state`) and whether it is divided by the model's
        scale (:meth:`ConditionalModel.scale_of`; every model must have been fit with ``scale=True``; variables
        without a model are not scaled); the numbers of :func:`~coreduce.monitor.thresholds.dynamic_threshold`
        with the same arguments (tested).
    """

    def __init__(self, store: Any = None, *, models: dict[str, ConditionalModel] | None = None,
                 terciles: dict[str, dict[str, tuple[float, float]]] | None = None,
                 limits: dict[str, float] | None = None, rules: QualityRules | None = None, window: int = 720,
                 q_on: float = 0.99, q_off: float = 0.95, min_periods: int = 100, cooldown: int = 0,
                 watch: Any = None, quality_alerts: Any = QUALITY_ALERT_FLAGS, score: str = "abs",
                 by_state: bool = False, scaled: bool = False) -> None:  # fmt: skip
        self.store, self.models, self.terciles = store, models or {}, terciles or {}
        if scaled and (unscaled := [v for v, m in self.models.items() if m.scale_model is None]):
            raise ValueError(f"scaled=True needs models fit with scale=True; without a scale model: {unscaled}")
        self.limits = limits or {}
        self.rules = rules or QualityRules(relocate=False)
        self.band_args = {"window": window, "q_on": q_on, "q_off": q_off, "min_periods": min_periods}
        self.score, self.by_state, self.scaled = score, by_state, scaled
        self.cooldown = cooldown
        self.scorer = StreamScorer(self.rules, seasonal=False)  # no alert is raised on the level rule or the hold
        self.keys: dict[tuple[str, str], _Key] = {}
        self.site_state: dict[str, dict[str, float]] = {}
        self.state_vars = {f for m in self.models.values() for f in m.features}
        self.watch = set(watch) if watch is not None else (set(self.models) or None)
        self.quality_alerts = tuple(quality_alerts)
        self.alerts_raised = 0
        self._bounds_cache: dict[tuple[str, str], tuple[float, float] | None] = {}
        self._design: dict[int, tuple[pd.DataFrame, int]] = {}
        self._ledger: Any = None
        #: True: :meth:`after_write` leaves the alerts to store in ``BatchResult.deferred`` (the stream's alert
        #: thread stores them, so that a batch of readings does not wait for the ledger)
        self.defer_alerts = False
        self._gap_rows: dict[tuple[str, str], int] = {}  # key -> row of the clock-gap state
        self._steps = np.empty((0, 50))  # each key's last 50 positive time steps (ns), NaN-padded
        self._last_ts = np.empty(0, dtype=np.int64)

    def warm_up(self) -> None:
        """Do once, before readings flow, what the first alert would otherwise pay for on the stream: the
        symptom -> cause -> action graph read and built, and each LightGBM model's prediction and SHAP paths
        (their first calls allocate).  Measured in the MQTT benchmark: the stream's worst batch in its first
        seconds (an alert's first explanation) took 360 ms, later ones under 230 ms."""
        explain("value_stuck", {}, None, [])
        graph_version()
        for m in self.models.values():
            if m.method == "lightgbm" and m.model is not None:
                X = pd.DataFrame(np.zeros((1, m.model.n_features_in_)), columns=list(m.model.feature_name_))
                m.model.predict(X, num_threads=1)
                m.model.predict(X, pred_contrib=True, num_threads=1)
                if m.scale_model is not None:
                    m.scale_model.predict(X, num_threads=1)

    # ------------------------------------------------------------------ quality (before the write)
    def _key_codes(self, df: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """Key number of each row (keys numbered in order of first appearance) and the ``(site, variable)`` keys."""
        sc, su = pd.factorize(df["site_id"].to_numpy())
        vc, vu = pd.factorize(df["variable"].to_numpy())
        codes, uc = pd.factorize(sc.astype(np.int64) * len(vu) + vc)
        return codes.astype(np.intp), [(su[u // len(vu)], vu[u % len(vu)]) for u in uc]

    def before_write(self, df: pd.DataFrame) -> pd.DataFrame:
        """Flags and scores of a batch (rows in the frame's order), and the ``quality`` to store."""
        n = len(df)
        x = df["value"].to_numpy(float)
        ts = df["ts"].to_numpy("datetime64[ns]").astype("int64")
        late_ns = int(self.rules.late_after / pd.Timedelta(1, "ns"))
        arrived = df["arrived"].to_numpy("datetime64[ns]").astype("int64") if "arrived" in df else ts
        codes, keys = self._key_codes(df)
        order = np.lexsort((ts, codes))  # key after key, each in time order (stable)
        lens = np.bincount(codes, minlength=len(keys))
        s = self.scorer.update_flat(keys, lens, x[order])
        cols = {}
        for c, src in (("stuck", "stuck"), ("spike", "spike"), ("score", "score"), ("non_positive", "non_positive"),
                       ("double_delta", "double_delta_prev")):  # fmt: skip
            # the double delta of reading t is decided at t+1: flagged on the reading that confirms it
            cols[c] = np.empty(n, dtype=bool)
            cols[c][order] = s[src]
        zv, zd, med = np.empty(n), np.empty(n), np.empty(n)
        zv[order], zd[order], med[order] = s["z_value"], s["z_diff"], s["median"]
        # out of range: the bounds of each key's (variable, unit)
        first_row = np.unique(codes, return_index=True)[1]
        units = df["unit"].to_numpy()[first_row]
        lo, hi = np.full(len(keys), np.nan), np.full(len(keys), np.nan)
        for j, ((_, var), unit) in enumerate(zip(keys, units, strict=True)):
            b = self._bounds(var, unit)
            if b is not None:
                lo[j], hi[j] = b
        with np.errstate(invalid="ignore"):
            cols["out_of_range"] = (x < lo[codes]) | (x > hi[codes])
        cols["clock_gap"] = np.empty(n, dtype=bool)
        cols["clock_gap"][order] = self._clock_gap(keys, lens, ts[order])
        # one frame built from a dict of columns (a column set at a time would copy the frame each time)
        out = {c: cols[c] for c in ("stuck", "spike", "score", "non_positive", "out_of_range", "clock_gap",
                                    "double_delta")}  # fmt: skip
        out["missing"] = missing = np.isnan(x)
        out["late"] = late = (arrived - ts) > late_ns
        out["z_value"], out["z_diff"], out["median"] = zv, zd, med
        invalid = cols["non_positive"] | cols["out_of_range"]
        suspect = late | cols["stuck"] | cols["spike"] | cols["score"] | cols["double_delta"]
        out["quality"] = np.where(missing, "missing", np.where(invalid, "invalid",
                                  np.where(suspect, "suspect", "ok")))  # fmt: skip
        return pd.DataFrame(out, index=df.index)

    def _clock_gap(self, keys: list[tuple[str, str]], lens: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Clock gap of readings ``t`` (key after key, in time order): a step above 1.5 x the key's median step
        (the median of its last 50 positive steps before the batch, once it has 5)."""
        rows = np.empty(len(keys), dtype=np.intp)
        for i, key in enumerate(keys):
            j = self._gap_rows.get(key)
            if j is None:
                j = self._gap_rows[key] = len(self._gap_rows)
            rows[i] = j
        grow = len(self._gap_rows) - len(self._last_ts)
        if grow > 0:
            self._steps = np.vstack([self._steps, np.full((grow, 50), np.nan)])
            self._last_ts = np.r_[self._last_ts, np.full(grow, np.iinfo(np.int64).min)]
        first = np.r_[0, np.cumsum(lens)[:-1]].astype(np.intp)
        seg = np.repeat(np.arange(len(keys)), lens)
        carry = self._last_ts[rows]
        prev = np.empty(len(t), dtype=np.int64)
        prev[1:] = t[:-1]
        prev[first] = np.where(carry == np.iinfo(np.int64).min, t[first], carry)  # a new key: no step
        step = (t - prev).astype(float)
        hist = self._steps[rows]
        have = np.sum(~np.isnan(hist), axis=1)
        with np.errstate(all="ignore"):
            med = np.where(have >= 5, np.nanmedian(np.where(have[:, None] > 0, hist, 0.0), axis=1), np.nan)
            gap = step > 1.5 * med[seg]
        # keep each key's last 50 positive steps
        pos = step > 0
        plen = np.bincount(seg[pos], minlength=len(keys))
        kept = np.arange(pos.sum()) - np.r_[0, np.cumsum(plen)[:-1]][seg[pos]]
        if pos.any():
            _seg_windows(self._steps, rows, step[pos], plen, seg[pos], kept)
        self._last_ts[rows] = t[first + lens - 1]
        return gap

    def _bounds(self, var: str, unit: str) -> tuple[float, float] | None:
        """(min, max) of ``bounds.csv`` for (variable, unit), cached (None: none declared)."""
        if (var, unit) not in self._bounds_cache:
            probe = _range_flag(pd.Series([-np.inf, np.inf]), var, unit).to_numpy()
            self._bounds_cache[var, unit] = None if not probe.any() else self._bounds_of(var, unit)
        return self._bounds_cache[var, unit]

    @staticmethod
    def _bounds_of(var: str, unit: str) -> tuple[float, float]:
        from coreduce.monitor.quality import bounds

        b = bounds()
        row = b[(b["variable"] == var) & (b["unit"] == unit)]
        return float(row["min"].iloc[0]), float(row["max"].iloc[0])

    def _key(self, site: str, var: str) -> _Key:
        k = self.keys.get((site, var))
        if k is None:
            k = self.keys[(site, var)] = _Key(OnlineBand(**self.band_args))
        return k

    # ------------------------------------------------------------------ band, scores, alerts (after the write)
    def _states(self, df: pd.DataFrame) -> pd.DataFrame:
        """Operating state per row: the reading's own ``state`` or the site's last reported one."""
        feats = sorted(self.state_vars)
        if "state" in df and any(isinstance(x, dict) for x in df["state"].to_numpy()):
            return self._states_rows(df, feats)
        # each state variable forward-filled within each site (frame order), the site's state before the batch
        # where it has not been reported yet
        n, sites = len(df), df["site_id"].to_numpy()
        if not n:
            return pd.DataFrame(np.empty((0, len(feats))), columns=feats, index=df.index)
        var, val = df["variable"].to_numpy(), df["value"].to_numpy(float)
        codes, uniq = pd.factorize(sites)
        order = np.argsort(codes, kind="stable")
        sc, ar = codes[order], np.arange(n)
        starts = np.r_[0, np.flatnonzero(sc[1:] != sc[:-1]) + 1]
        ends = np.r_[starts[1:], n] - 1
        first = np.repeat(starts, ends - starts + 1)
        before = [self.site_state.setdefault(s, {}) for s in uniq]
        carry = np.array([[c.get(f, np.nan) for f in feats] for c in before]).reshape(len(uniq), len(feats))
        vs, var_s = val[order], var[order]
        out = np.empty((n, len(feats)))
        for j, f in enumerate(feats):
            last = np.maximum.accumulate(np.where(var_s == f, ar, first - 1))
            has = last >= first
            col = np.where(has, vs[np.maximum(last, 0)], carry[sc, j])
            out[order, j] = col
            for e in ends[has[ends]]:  # the site's last report of f in the batch
                before[sc[e]][f] = col[e]
        return pd.DataFrame(out, columns=feats, index=df.index)

    def _states_rows(self, df: pd.DataFrame, feats: list[str]) -> pd.DataFrame:
        """:meth:`_states` row by row (readings that carry their own ``state`` dict)."""
        rows = []
        st = df["state"].to_numpy() if "state" in df else np.full(len(df), None)
        sites, var, val = df["site_id"].to_numpy(), df["variable"].to_numpy(), df["value"].to_numpy(float)
        for i in range(len(df)):
            cur = self.site_state.setdefault(sites[i], {})
            if isinstance(st[i], dict):
                cur.update(st[i])
            if var[i] in self.state_vars:
                cur[var[i]] = val[i]
            rows.append([cur.get(f, np.nan) for f in feats])
        return pd.DataFrame(rows, columns=feats, index=df.index, dtype=float)

    def after_write(self, df: pd.DataFrame, flags: pd.DataFrame | None = None) -> BatchResult:
        """Dynamic band, alarms and explained alerts of a stored batch."""
        flags = self.before_write(df) if flags is None else flags
        n = len(df)
        x = df["value"].to_numpy(float)
        ts = df["ts"].to_numpy("datetime64[ns]").astype("int64")
        state = self._states(df) if self.state_vars else pd.DataFrame(index=df.index)
        expected = flags["median"].to_numpy(float).copy()
        scale = np.ones(n) if self.scaled else None  # variables without a model: not scaled
        self._design: dict[int, tuple[pd.DataFrame, int]] = {}
        for var, idx in df.groupby("variable", sort=False).indices.items():
            m = self.models.get(var)
            if m is None:
                continue
            expected[idx], sc_var = self._predict(m, df, state, idx, var)
            if scale is not None:
                scale[idx] = sc_var
        up, lo = np.full(n, np.nan), np.full(n, np.nan)
        exceeded, alarm = np.zeros(n, bool), np.zeros(n, bool)
        resid = x - expected
        sc = np.nan_to_num(band_score(x, expected, self.score, scale), nan=0.0)
        load_state = np.full(n, -1, dtype=np.intp)
        if self.by_state:  # each variable's model: the load tercile of its training load
            for var, m in self.models.items():
                if m.state_edges is not None and m.features[0] in state:
                    rows = (df["variable"] == var).to_numpy()
                    load_state[rows] = m.load_state(state[m.features[0]].to_numpy(float)[rows])
        order: dict[tuple[str, str], np.ndarray] = {}
        for (site, var), idx in df.groupby(["site_id", "variable"], sort=False).indices.items():
            order[site, var] = idx[np.argsort(ts[idx], kind="stable")]
        states = [load_state[idx] for idx in order.values()] if self.by_state else None
        bands = OnlineBand.update_many([self._key(*key).band for key in order], [sc[idx] for idx in order.values()],
                                       states)  # fmt: skip
        for idx, (u, lw, e, a) in zip(order.values(), bands, strict=True):
            up[idx], lo[idx], exceeded[idx], alarm[idx] = u, lw, e, a
        bad = (flags["missing"] | flags["stuck"] | flags["non_positive"] | flags["out_of_range"]).to_numpy()
        alarm &= ~bad
        scored = flags.assign(observed=x, expected=expected, residual=resid, band_score=sc,
                              band_high=band_value(expected, up, self.score, scale),
                              band_low=band_value(expected, lo, self.score, scale), exceeded=exceeded,
                              alarm=alarm)  # fmt: skip
        limit = np.array([x[i] > self.limits[v] if v in self.limits else False
                          for i, v in enumerate(df["variable"].to_numpy())], dtype=bool)  # fmt: skip
        scored["limit"] = limit
        qual = flags[list(self.quality_alerts)].any(axis=1).to_numpy() if self.quality_alerts else np.zeros(n, bool)
        if self.watch is not None:
            alarm_alert = alarm & df["variable"].isin(self.watch).to_numpy()
        else:
            alarm_alert = alarm
        rows, trig, closed = [], [], []
        for (site, var), idx in order.items():
            k = self._key(site, var)
            for kind, f in (("dynamic", alarm_alert), ("quality", qual), ("limit", limit)):
                fk = f[idx]
                if not fk.any() and kind not in k.open:
                    k.since[kind] = k.since.get(kind, 10**9) + len(idx)
                    k.prev[kind] = False
                    continue
                for j, i in enumerate(idx):
                    on, was = bool(fk[j]), k.prev.get(kind, False)
                    if on and not was:
                        if kind in k.open and k.since.get(kind, 10**9) <= self.cooldown:  # folded (cooldown)
                            pass
                        else:
                            if kind in k.open:
                                closed.append(k.open.pop(kind))
                            row = self._alert(df, scored, state, i, site, var, kind)
                            k.open[kind] = row
                            rows.append(row)
                            trig.append(i)
                        k.since[kind] = 0
                    elif on:
                        k.open[kind]["ts_end"] = df["ts"].iat[i]
                        k.since[kind] = 0
                    else:
                        k.since[kind] = k.since.get(kind, 10**9) + 1
                        if was and kind in k.open and self.cooldown == 0:
                            closed.append(k.open.pop(kind))
                        elif kind in k.open and k.since[kind] > self.cooldown:
                            closed.append(k.open.pop(kind))
                    k.prev[kind] = on
        self._explain_dynamic([r for r in rows if r["kind"] == "dynamic"], state)
        alerts = pd.DataFrame(rows + [c for c in closed if all(c is not r for r in rows)], columns=list(ALERT_COLUMNS))
        res = BatchResult(scored, alerts, np.asarray(trig, dtype=int))
        if len(alerts):
            for c in ("ts_start", "ts_end", "acknowledged_at"):
                alerts[c] = pd.to_datetime(alerts[c], utc=True)
            self.alerts_raised += len(rows)
            if self.store is not None:
                t = time.thread_time_ns()
                versions = sorted({m.version for m in self.models.values()})
                kw = {"params": {"mode": "live", **self.band_args, "score": self.score, "by_state": self.by_state,
                                 "scaled": self.scaled,
                                 "cooldown": self.cooldown},
                      "model_version": ",".join(versions) or "trailing-median", "footprint": "fallback"}  # fmt: skip
                batch = alerts.drop_duplicates("alert_id", keep="last")
                if self.defer_alerts:  # the caller stores them (a stream's alert thread)
                    res.deferred = (batch, kw)
                    return res
                if self._ledger is None:  # one ledger for the stream (it checks its tables once)
                    from coreduce.ledger import Ledger

                    self._ledger = Ledger(self.store, footprint="fallback")
                res.run_id = store_alerts(self.store, batch, ledger=self._ledger, **kw)
                res.store_cpu_ns = time.thread_time_ns() - t
        res.stored_ns = time.time_ns()
        return res

    def _predict(self, m: ConditionalModel, df: pd.DataFrame, state: pd.DataFrame, idx: np.ndarray,
                 var: str) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
        """Expected value of rows ``idx`` (one variable, possibly several sites) and, with ``scaled``, the model's
        scale of each: a lagged model gets each site's previous rows prepended."""
        frame = state.iloc[idx][m.features].copy()
        frame[m.target] = df["value"].to_numpy(float)[idx]
        frame["__site"] = df["site_id"].to_numpy()[idx]
        if m.group:  # one unbroken chain of readings per key
            frame[m.group] = 0
        if not m.lags:
            return self._predict_frame(m, frame, idx, 0), self._last_scale
        # a lagged model: each site's last rows go first, and the lags/differences run within each site
        ts = df["ts"].to_numpy("datetime64[ns]")[idx]
        sites = frame["__site"].to_numpy()
        cur_all = np.column_stack([frame[m.features].to_numpy(float), frame[m.target].to_numpy(float)])
        order = np.lexsort((ts, sites))
        codes, uniq = pd.factorize(sites[order])
        starts = np.r_[0, np.flatnonzero(codes[1:] != codes[:-1]) + 1]
        ends = np.r_[starts[1:], len(order)]
        blocks, rows, skips = [], [], []
        for j, site in enumerate(uniq):
            pos = order[starts[j] : ends[j]]
            k = self._key(site, var)
            hist = k.hist if k.hist is not None else cur_all[:0]
            cur = cur_all[pos]
            blocks += [hist, cur]
            rows.append(pos)
            skips.append(len(hist))
            k.hist = np.concatenate([hist, cur])[-m.lags :]
        big = np.concatenate(blocks)
        both = pd.DataFrame(big[:, :-1], columns=m.features)
        both[m.target] = big[:, -1]
        sizes = [h + len(p) for h, p in zip(skips, rows, strict=True)]
        both[m.group or "__chain"] = np.repeat(np.arange(len(uniq)), sizes)
        mg = m if m.group else _with_group(m, "__chain")
        is_new = np.concatenate(
            [np.r_[np.zeros(h, bool), np.ones(len(p), bool)] for h, p in zip(skips, rows, strict=True)]
        )
        new_rows = np.flatnonzero(is_new)
        pred = self._predict_frame(mg, both, np.empty(0, int), 0)
        out = np.empty(len(idx))
        allpos = np.concatenate(rows)
        out[allpos] = pred[new_rows]
        scale = None
        if self._last_scale is not None:
            scale = np.empty(len(idx))
            scale[allpos] = self._last_scale[new_rows]
        X = self._last_design
        for p, r in zip(allpos, new_rows, strict=True):
            self._design[int(idx[p])] = (X, int(r))
        return out, scale

    def _predict_frame(self, m: ConditionalModel, frame: pd.DataFrame, rows: np.ndarray, skip: int) -> np.ndarray:
        """Predict ``frame`` (its first ``skip`` rows are history) and keep the design rows of batch ``rows``
        for the contributions of the alerts they may raise; with ``scaled``, the scale of the same rows is left in
        ``_last_scale``."""
        self._last_scale = None
        if m.method != "lightgbm":
            return m.predict(frame, frame[m.target].to_numpy(float))[skip:]
        X = m.design(frame, frame[m.target].to_numpy(float))
        self._last_design = X
        pred = np.asarray(m.model.predict(X, num_threads=1), dtype=float)
        if self.scaled:
            self._last_scale = m.scale_of(X)[skip:]
        for j, i in enumerate(rows):
            self._design[int(i)] = (X, skip + j)
        return pred[skip:]

    def _explain_dynamic(self, rows: list[dict], state: pd.DataFrame) -> None:
        """Top contributing variables (one SHAP call for all the batch's dynamic alerts) and graph paths."""
        by_var: dict[str, list[dict]] = {}
        for r in rows:
            by_var.setdefault(r["variable"], []).append(r)
        for var, rs in by_var.items():
            m = self.models.get(var)
            contrib: list[list] = [[] for _ in rs]
            if m is not None and m.method == "lightgbm":
                have = [j for j, r in enumerate(rs) if r["_i"] in self._design]
                if have:
                    X = pd.concat([self._design[rs[j]["_i"]][0].iloc[[self._design[rs[j]["_i"]][1]]] for j in have])
                    for j, c in zip(have, m.top_contributions(X), strict=True):
                        contrib[j] = c
            for r, c in zip(rs, contrib, strict=True):
                st = {f: float(state[f].iat[r["_i"]]) for f in (m.features if m is not None else [])}
                ex = explain(r["_symptom"], st, self.terciles.get(var), c)
                r.update(contributors=json.dumps(as_json_list(c)), path=ex.path, action=ex.action)

    def _alert(self, df: pd.DataFrame, scored: pd.DataFrame, state: pd.DataFrame, i: int, site: str, var: str,
               kind: str) -> dict:  # fmt: skip
        flags = [c for c in ("late", "missing", *QUALITY_FLAGS, "clock_gap", "score", "exceeded")
                 if bool(scored[c].iat[i])]  # fmt: skip
        m = self.models.get(var)
        st = {c: float(state[c].iat[i]) for c in (m.features if m is not None else [])}
        if kind == "quality":
            symptom = SYMPTOMS[next(c for c in self.quality_alerts if bool(scored[c].iat[i]))]
        else:
            symptom = f"{var.removeprefix('stack_')}_high"
        ex = explain(symptom, st, self.terciles.get(var), []) if kind != "dynamic" else None
        hi = float(scored["band_high"].iat[i]) if kind != "limit" else float(self.limits[var])
        ts0 = df["ts"].iat[i]
        return {"alert_id": alert_id(site, var, kind, ts0), "site_id": site, "variable": var, "kind": kind,
                "ts_start": ts0, "ts_end": ts0, "observed": float(scored["observed"].iat[i]),
                "expected": float(scored["expected"].iat[i]),
                "band_low": float(scored["band_low"].iat[i]) if kind != "limit" else np.nan, "band_high": hi,
                "unit": df["unit"].iat[i], "flags": "+".join(flags) or None,
                "contributors": "[]", "path": ex.path if ex else None, "action": ex.action if ex else None,
                "graph_version": graph_version(), "status": "open", "acknowledged_by": None,
                "acknowledged_at": None, "run_id": None, "_i": i, "_symptom": symptom}  # fmt: skip

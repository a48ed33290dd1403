"""Heavy-pollution episode curtailment (重污染天气应急减排 / 错峰生产) as a MILP.

Enterprise ``e`` (performance grade A–D) runs at baseline output ``B_{e,t}`` [unit/h] and emits
``rate_{e,p}`` [t per unit] of pollutant ``p``.  In every hour of the episode it picks one allowed curtailment level
``c_k`` (a fraction of its baseline output: 0, 10 %, 20 %, 30 %, 50 %, 100 % = shutdown …) with binaries
``x_{e,k,t}`` (``sum_k x = 1``); its cut is ``cut_{e,t} = sum_k c_k x_{e,k,t}``.

    min  sum_{e,t} value_e B_{e,t} cut_{e,t}                                lost output value [CNY]
    s.t. background_{r,t} - sum_{e,p,L} SR_{e,r,p,L} rate_{e,p} B_{e,t-L} cut_{e,t-L} <= cap_{r,t}   [µg/m³]
         sum_t B_{e,t} cut_{e,t} >= sum_t alpha(grade_e, alert_t) B_{e,t}    alert-level floor (grade A: 0)
         sum_e rate_{e,p} B_{e,t} (1 - cut_{e,t}) <= emission_cap_{p,t}      optional [t/h]
         |cut_t - cut_{t-1}| <= ramp_e  (relaxed when either hour is a shutdown; cut_{-1} = 0)
         1 - c_k >= min_output_e  for every allowed non-shutdown level; shutdown only where allowed
         a shutdown, once started, lasts min_shutdown_h_e hours (truncated at the episode's end)

``background`` is the forecast concentration with baseline emissions; ``SR`` the source–receptor coefficients
[µg/m³ per t/h] with lags [h].  The floors ``alpha`` come from the cited ``curtailment_levels`` coefficient set
(grade A exempt; yellow/orange/red ≥ 10/20/30 %).  Shadow prices are the duals of the LP relaxation (binaries in
[0, 1]) — a lower bound on the MILP's marginal values, stated so in the explanation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from coreduce import coefficients
from coreduce.errors import InputError
from coreduce.optimise._solve import OptimiseError, explain_infeasible, solve

POLLUTANTS = ("PM2.5", "PM10", "SO2", "NOx", "VOCs", "NH3", "CO2")
#: pollutants the alert-level floors apply to (the plans name SO2, NOx, PM and VOCs)
ALERT_POLLUTANTS = ("PM2.5", "PM10", "SO2", "NOx", "VOCs")
DEFAULT_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
TOL = 1e-7


@dataclass
class Episode:
    """A checked curtailment problem (see :func:`read_problem` for the JSON format)."""

    hours: pd.Index
    enterprises: pd.DataFrame  # id, grade, capacity, value_per_unit, min_output, ramp, can_shutdown, min_shutdown_h
    baseline: np.ndarray  # (E, T) baseline output [unit/h]
    rates: pd.DataFrame  # (E x pollutants) [t per unit]
    alert: list[str]
    scheme: str
    levels: np.ndarray
    receptors: pd.Index
    background: np.ndarray  # (R, T) [µg/m³]
    cap: np.ndarray  # (R, T) [µg/m³]
    sr: pd.DataFrame  # enterprise, receptor, pollutant, lag, coef [µg/m³ per t/h]
    emission_caps: dict[str, np.ndarray] = field(default_factory=dict)  # pollutant -> (T,) [t/h]
    value_unit: str = "CNY"
    source: str = "<dict>"

    @property
    def E(self) -> int:
        return len(self.enterprises)

    @property
    def T(self) -> int:
        return len(self.hours)

    def floors(self) -> np.ndarray:
        """(E, T) minimum cut fraction by grade and hourly alert level (``curtailment_levels``)."""
        cs = coefficients.load("curtailment_levels")
        grades = self.enterprises["grade"].to_numpy(str)
        alerts = np.asarray(self.alert, dtype=str)
        # one look-up per distinct (alert, grade) pair: an unknown one fails naming the coefficient set
        look = {
            (a, g): cs.value("min_cut", scheme=self.scheme, alert=a, grade=g) for a in set(alerts) for g in set(grades)
        }
        out = np.empty((self.E, self.T))
        for (a, g), v in look.items():
            out[np.ix_(grades == g, alerts == a)] = v
        return out

    def allowed(self) -> np.ndarray:
        """(E, K) which levels each enterprise may use."""
        ent = self.enterprises
        lv = self.levels[None, :]
        ok = (1 - lv) >= ent["min_output"].to_numpy(float)[:, None] - 1e-12
        shut = np.isclose(lv, 1.0)
        return np.where(shut, ent["can_shutdown"].to_numpy(bool)[:, None], ok)

    def sr_weight(self) -> dict[int, np.ndarray]:
        """lag -> (E, R) µg/m³ per unit of cut output-fraction x baseline: sum_p SR_{e,r,p,L} rate_{e,p}."""
        eidx = pd.Index(self.enterprises["id"])
        ridx = pd.Index(self.receptors)
        sr = self.sr
        ei = eidx.get_indexer(sr["enterprise"])
        ri = ridx.get_indexer(sr["receptor"].astype(str))
        rate = self.rates.to_numpy(float)[ei, self.rates.columns.get_indexer(sr["pollutant"])]
        val = sr["coef"].to_numpy(float) * rate
        lags = sr["lag"].to_numpy(float).astype(int)
        w: dict[int, np.ndarray] = {}
        for L in np.unique(lags):
            a = np.zeros((self.E, len(self.receptors)))
            k = lags == L
            np.add.at(a, (ei[k], ri[k]), val[k])
            w[int(L)] = a
        return w

    def reduction(self, cut: np.ndarray) -> np.ndarray:
        """(R, T) concentration reduction [µg/m³] of a cut schedule (E, T) (numpy reference)."""
        red = np.zeros((len(self.receptors), self.T))
        for L, w in self.sr_weight().items():
            d = cut * self.baseline  # (E, T) units/h cut
            if L:
                d = np.concatenate([np.zeros((self.E, L)), d[:, :-L]], axis=1) if L < self.T else np.zeros_like(d)
            red += w.T @ d
        return red


def _num(v: Any, where: str, field_: str, *, lo: float | None = None, hi: float | None = None) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(where, "a number", column=field_, value=v) from None
    if not np.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
        rng = f" in [{lo}, {hi}]" if hi is not None else (f" >= {lo}" if lo is not None else "")
        raise InputError(where, f"a finite number{rng}", column=field_, value=v)
    return x


def _series(v: Any, n: int, where: str, field_: str, *, lo: float | None = None) -> np.ndarray:
    if isinstance(v, list | tuple):
        if len(v) != n:
            raise InputError(
                where, f"{n} hourly values (one per episode hour)", column=field_, value=f"{len(v)} values"
            )
        return np.array([_num(x, where, field_, lo=lo) for x in v])
    return np.full(n, _num(v, where, field_, lo=lo))


def read_problem(problem: dict[str, Any] | str | Path) -> Episode:
    """Check a curtailment problem (dict or JSON file) and return an :class:`Episode`.

    JSON format::

        {"hours": ["2016-12-16T00:00:00Z", ...],         # the episode's hours (UTC)
         "alert": "orange" | ["yellow", "orange", ...],  # alert level per hour (none/yellow/orange/red)
         "scheme": "national",                           # row set of the curtailment_levels coefficients
         "levels": [0, 0.1, 0.2, 0.3, 0.5, 1.0],         # allowed cut fractions (1 = shutdown)
         "value_unit": "CNY",
         "enterprises": [{"id": "E1", "grade": "B", "capacity": 100,        # [unit/h]
                          "baseline": 1.0 | [...],        # fraction of capacity per hour (default 1)
                          "value_per_unit": 300,          # output value [CNY per unit]
                          "min_output": 0.5,              # fraction of baseline when running
                          "ramp": 0.3,                    # max change of the cut per hour (fraction)
                          "can_shutdown": true, "min_shutdown_h": 6,
                          "rates": {"PM2.5": 1e-4, "SO2": 2e-4, "NOx": 3e-4, "VOCs": 0, "CO2": 0.5}}],  # [t/unit]
         "receptors": [{"id": "R1", "background": [...], "cap": 75 | [...]}],   # [µg/m³]
         "source_receptor": [{"enterprise": "E1", "receptor": "R1", "pollutant": "PM2.5", "lag": 0,
                              "coef": 2.0}],              # [µg/m³ per t/h]
                           # or estimated from history (estimate_source_receptor; paths relative to the file):
                           # {"estimate_from": {"emissions": "e.csv", "concentrations": "c.csv", "lags": [0, 1]}}
         "emission_caps": {"SO2": 0.5 | [...]}}           # optional [t/h]
    """
    src = "<dict>"
    if not isinstance(problem, dict):
        src = str(problem)
        import json

        try:
            problem = json.loads(Path(problem).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(src, f"a readable JSON curtailment problem ({exc})") from exc
    assert isinstance(problem, dict)
    for k in ("hours", "enterprises", "receptors", "source_receptor"):
        if k not in problem:
            raise InputError(src, f"a '{k}' entry in the problem", column=k)
    try:
        hours = pd.DatetimeIndex(pd.to_datetime(problem["hours"], utc=True), name="t")
    except (ValueError, TypeError) as exc:
        raise InputError(src, "ISO 8601 hours", column="hours", value=str(exc)) from None
    T = len(hours)
    if T == 0:
        raise InputError(src, "at least one episode hour", column="hours")
    alert = problem.get("alert", "none")
    alert = [alert] * T if isinstance(alert, str) else list(alert)
    if len(alert) != T:
        raise InputError(src, f"{T} alert levels", column="alert", value=f"{len(alert)} values")
    rows, base, rates = [], [], []
    for i, e in enumerate(problem["enterprises"]):
        w = f"{src} enterprises[{i}]"
        if "id" not in e:
            raise InputError(w, "an enterprise id", column="id")
        g = str(e.get("grade", "D")).upper()
        if g not in ("A", "B", "C", "D"):
            raise InputError(w, "a performance grade A, B, C or D", column="grade", value=e.get("grade"))
        cap = _num(e.get("capacity"), w, "capacity", lo=0)
        rows.append(
            {
                "id": str(e["id"]),
                "grade": g,
                "capacity": cap,
                "value_per_unit": _num(e.get("value_per_unit"), w, "value_per_unit", lo=0),
                "min_output": _num(e.get("min_output", 0), w, "min_output", lo=0, hi=1),
                "ramp": _num(e.get("ramp", 1), w, "ramp", lo=0, hi=1),
                "can_shutdown": bool(e.get("can_shutdown", True)),
                "min_shutdown_h": int(_num(e.get("min_shutdown_h", 1), w, "min_shutdown_h", lo=1)),
                "sector": str(e.get("sector", "")),
            }
        )
        base.append(cap * _series(e.get("baseline", 1.0), T, w, "baseline", lo=0))
        r = e.get("rates", {})
        bad = [p for p in r if p not in POLLUTANTS]
        if bad:
            raise InputError(w, f"rates for pollutants among {POLLUTANTS}", column="rates", value=bad[0])
        rates.append({p: _num(r.get(p, 0), w, f"rates.{p}", lo=0) for p in POLLUTANTS})
    ent = pd.DataFrame(rows)
    if ent["id"].duplicated().any():
        raise InputError(src, "unique enterprise ids", column="id", value=ent["id"][ent["id"].duplicated()].iloc[0])
    rec, bg, cp = [], [], []
    for i, r in enumerate(problem["receptors"]):
        w = f"{src} receptors[{i}]"
        rec.append(str(r.get("id", i)))
        bg.append(_series(r.get("background"), T, w, "background", lo=0))
        c = r.get("cap")
        if c is None:
            cp.append(np.full(T, np.inf))
        elif isinstance(c, list | tuple):
            if len(c) != T:
                raise InputError(w, f"{T} hourly caps (null: no cap)", column="cap", value=f"{len(c)} values")
            cp.append(np.array([np.inf if v is None else _num(v, w, "cap", lo=0) for v in c]))
        else:
            cp.append(_series(c, T, w, "cap", lo=0))
    srp = problem["source_receptor"]
    if isinstance(srp, dict):  # {"estimate_from": {"emissions": CSV, "concentrations": CSV, "lags": [0, 1, 2]}}
        est = srp.get("estimate_from")
        if not isinstance(est, dict) or not {"emissions", "concentrations"} <= set(est):
            raise InputError(
                src, "source_receptor rows, or {'estimate_from': {'emissions': CSV, 'concentrations': CSV}}",
                column="source_receptor",
            )  # fmt: skip
        base_dir = Path(src).parent if src != "<dict>" else Path(".")
        try:
            em = pd.read_csv(base_dir / est["emissions"])
            co = pd.read_csv(base_dir / est["concentrations"])
        except OSError as exc:
            raise InputError(src, f"readable history files ({exc})", column="source_receptor.estimate_from") from exc
        srp = estimate_source_receptor(em, co, lags=est.get("lags", (0, 1, 2)), source=src).to_dict(orient="records")
    sr = pd.DataFrame(srp, columns=["enterprise", "receptor", "pollutant", "lag", "coef"])
    ids = set(ent["id"])
    for i, s in enumerate(sr.itertuples()):
        w = f"{src} source_receptor[{i}]"
        if s.enterprise not in ids:
            raise InputError(w, "an enterprise id listed in 'enterprises'", column="enterprise", value=s.enterprise)
        if str(s.receptor) not in rec:
            raise InputError(w, "a receptor id listed in 'receptors'", column="receptor", value=s.receptor)
        if s.pollutant not in POLLUTANTS:
            raise InputError(w, f"a pollutant among {POLLUTANTS}", column="pollutant", value=s.pollutant)
        _num(s.lag, w, "lag", lo=0)
        _num(s.coef, w, "coef", lo=0)
    sr["receptor"] = sr["receptor"].astype(str)
    levels = np.array(sorted({float(x) for x in problem.get("levels", DEFAULT_LEVELS)} | {0.0}))
    if levels.min() < 0 or levels.max() > 1:
        raise InputError(src, "curtailment levels in [0, 1]", column="levels", value=list(levels))
    ecaps = {p: _series(v, T, f"{src} emission_caps", p, lo=0) for p, v in (problem.get("emission_caps") or {}).items()}
    for p in ecaps:
        if p not in POLLUTANTS:
            raise InputError(src, f"a pollutant among {POLLUTANTS}", column="emission_caps", value=p)
    ep = Episode(
        hours,
        ent,
        np.array(base),
        pd.DataFrame(rates, index=ent["id"]),
        alert,
        str(problem.get("scheme", "national")),
        levels,
        pd.Index(rec, name="receptor"),
        np.array(bg),
        np.array(cp),
        sr,
        ecaps,
        str(problem.get("value_unit", "CNY")),
        src,
    )
    ep.floors()  # unknown alert/grade/scheme fails here, naming the coefficient set
    return ep


def build_curtailment(
    ep: Episode, *, elastic: bool = False, relax: bool = False, fix: np.ndarray | None = None
) -> tuple[linopy.Model, list[dict[str, Any]]]:
    """The curtailment MILP (``relax``: binaries in [0, 1]; ``elastic``: every cap and floor gets a slack;
    ``fix``: an (E, K, T) array of level indicators, NaN where free — the others are fixed to it)."""
    E, T, K = ep.E, ep.T, len(ep.levels)
    ei = pd.Index(ep.enterprises["id"], name="enterprise")
    ti = pd.RangeIndex(T, name="t")
    ki = pd.Index(ep.levels, name="level")
    allowed = ep.allowed()
    m = linopy.Model()
    ub = xr.DataArray(np.broadcast_to(allowed[:, :, None], (E, K, T)).astype(float), coords=[ei, ki, ti])
    if relax:
        x = m.add_variables(lower=0, upper=ub, name="x")
    else:
        x = m.add_variables(binary=True, coords=[ei, ki, ti], name="x")
        m.add_constraints(x <= ub, name="allowed")
    if fix is not None:
        fixed = np.isfinite(fix)
        m.add_constraints(
            x == xr.DataArray(np.where(fixed, fix, 0.0), coords=[ei, ki, ti]),
            name="fixed",
            mask=xr.DataArray(fixed, coords=[ei, ki, ti]),
        )
    m.add_constraints(x.sum("level") == 1, name="one_level")
    lv = xr.DataArray(ep.levels, coords=[ki])
    cut = (x * lv).sum("level")  # (e, t)
    B = xr.DataArray(ep.baseline, coords=[ei, ti])
    shut_k = float(ep.levels[np.isclose(ep.levels, 1.0)][0]) if np.isclose(ep.levels, 1.0).any() else None
    slacks: list[dict[str, Any]] = []
    penalties = []

    def slack(name: str, coords: list[pd.Index], constraint: str, required: Any, unit: str, sense: str, scale: Any):
        s = m.add_variables(lower=0, coords=coords, name=f"slack_{name}")
        slacks.append({"slack": s, "constraint": constraint, "required": required, "unit": unit, "sense": sense})
        penalties.append((s * scale).sum())
        return s

    # ramps (relaxed by 1 when either hour is a shutdown)
    ramp = xr.DataArray(ep.enterprises["ramp"].to_numpy(float), coords=[ei])
    if (ep.enterprises["ramp"] < 1).any():
        s_sh = x.sel(level=shut_k) if shut_k is not None else None
        prev = cut.shift(t=1).fillna(0)
        d = cut - prev
        relaxer = (s_sh + s_sh.shift(t=1).fillna(0)) if s_sh is not None else 0
        m.add_constraints(d - relaxer <= ramp, name="ramp_down")
        m.add_constraints(-d - relaxer <= ramp, name="ramp_up")
    # minimum shutdown duration
    if shut_k is not None:
        s_sh = x.sel(level=shut_k)
        start = s_sh - s_sh.shift(t=1).fillna(0)
        D = ep.enterprises["min_shutdown_h"].to_numpy(int)
        for dd in range(1, int(D.max())):
            mask = xr.DataArray((D[:, None] > dd) & (np.arange(T)[None, :] + dd < T), coords=[ei, ti])
            if mask.any():
                m.add_constraints(s_sh.shift(t=-dd).fillna(0) - start >= 0, name=f"min_shutdown_{dd}", mask=mask)
    # alert-level floors per enterprise
    fl = ep.floors()
    need = (fl * ep.baseline).sum(axis=1)
    has = need > 0
    if has.any():
        lhs = (cut * B).sum("t")
        rhs = xr.DataArray(need, coords=[ei])
        fmask = xr.DataArray(has, coords=[ei])
        if elastic:
            s = slack(
                "floor",
                [ei],
                "alert-level minimum cut of output (enterprise)",
                need,
                "unit",
                ">=",
                xr.DataArray(1.0 / np.maximum(need, 1e-9), coords=[ei]),
            )
            m.add_constraints(lhs + s >= rhs, name="alert_floor", mask=fmask)
        else:
            m.add_constraints(lhs >= rhs, name="alert_floor", mask=fmask)
    # concentration caps
    ri = ep.receptors
    red = None
    for L, w in ep.sr_weight().items():
        term = (cut * B).shift(t=L).fillna(0) if L else cut * B
        part = (term * xr.DataArray(w, coords=[ei, ri])).sum("enterprise")
        red = part if red is None else red + part
    finite = np.isfinite(ep.cap)
    if red is not None and finite.any():
        need_c = ep.background - np.where(finite, ep.cap, 0)
        rhs = xr.DataArray(np.where(finite, need_c, 0), coords=[ri, ti])
        cmask = xr.DataArray(finite, coords=[ri, ti])
        if elastic:
            s = slack(
                "conc",
                [ri, ti],
                "concentration cap",
                np.where(finite, ep.cap, np.nan),
                "µg/m³",
                "<=",
                xr.DataArray(1.0 / np.maximum(np.where(finite, ep.cap, 1), 1), coords=[ri, ti]),
            )
            m.add_constraints(red + s >= rhs, name="conc_cap", mask=cmask)
        else:
            m.add_constraints(red >= rhs, name="conc_cap", mask=cmask)
    # emission caps per pollutant-hour
    for p, capv in ep.emission_caps.items():
        rate = xr.DataArray(ep.rates[p].to_numpy(float), coords=[ei])
        emis = ((1 - cut) * B * rate).sum("enterprise")
        if elastic:
            s = slack(
                f"emis_{p}",
                [ti],
                f"emission cap {p}",
                capv,
                "t/h",
                "<=",
                xr.DataArray(1.0 / np.maximum(capv, 1e-9), coords=[ti]),
            )
            m.add_constraints(emis - s <= xr.DataArray(capv, coords=[ti]), name=f"emission_cap[{p}]")
        else:
            m.add_constraints(emis <= xr.DataArray(capv, coords=[ti]), name=f"emission_cap[{p}]")
    val = xr.DataArray(ep.enterprises["value_per_unit"].to_numpy(float), coords=[ei])
    if elastic:
        obj = penalties[0]
        for p_ in penalties[1:]:
            obj = obj + p_
        m.add_objective(obj)
    else:
        m.add_objective((cut * B * val).sum())
    return m, slacks


@dataclass
class CurtailmentResult:
    """A curtailment plan.

    Attributes
    ----------
    objective : float
        Lost output value [``value_unit``, CNY by default].
    schedule : pandas.DataFrame
        ``enterprise, hour, cut (fraction), output [unit/h], lost_value, <P>_cut [t]`` per enterprise-hour.
    concentrations : pandas.DataFrame
        ``receptor, hour, before, after, cap`` [µg/m³].
    reductions : dict
        Episode emission reductions by pollutant [t] (CO2 included: the co-reduction).
    binding : pandas.DataFrame
        Binding caps/floors with the LP-relaxation shadow price and its meaning in words.
    explanation : dict
    """

    objective: float
    schedule: pd.DataFrame
    concentrations: pd.DataFrame
    reductions: dict[str, float]
    binding: pd.DataFrame
    explanation: dict[str, Any]
    gap: float | None = None

    def windows(self) -> pd.DataFrame:
        """Curtailment windows: contiguous hours an enterprise runs at one cut > 0 (``enterprise, start, end,
        hours, cut``)."""
        rows = []
        for e, g in self.schedule.groupby("enterprise", sort=False):
            run = None
            for h, c in zip(g["hour"], g["cut"], strict=True):
                if run and c == run["cut"] and c > 0:
                    run["end"], run["hours"] = h, run["hours"] + 1
                    continue
                if run:
                    rows.append(run)
                run = {"enterprise": e, "start": h, "end": h, "hours": 1, "cut": c} if c > 0 else None
            if run:
                rows.append(run)
        return pd.DataFrame(rows, columns=["enterprise", "start", "end", "hours", "cut"])

    def as_dict(self) -> dict[str, Any]:
        w = self.windows()
        w["start"], w["end"] = w["start"].astype(str), w["end"].astype(str)
        return {
            "objective": self.objective,
            "unit": self.explanation.get("value_unit", "CNY"),
            "decision": w.to_dict(orient="records"),
            "reductions_t": self.reductions,
            "explanation": self.explanation,
        }


def _cut_of(m: linopy.Model, ep: Episode, exact: bool = False) -> np.ndarray:
    x = m.variables["x"].solution.transpose("enterprise", "level", "t").fillna(0).values  # (E, K, T)
    return np.einsum("ekt,k->et", x if exact else np.round(x, 9), ep.levels)


def round_up(ep: Episode, cut: np.ndarray, max_iter: int = 100) -> np.ndarray | None:
    """A feasible schedule from a fractional one by only *raising* cuts (more cut never breaks a cap or a floor):
    each cut up to the next allowed level, then shutdowns extended to their minimum duration and ramp breaches
    closed by raising the lower side; None if that does not give a feasible schedule."""
    allowed = ep.allowed()
    lv = ep.levels
    ent = ep.enterprises
    has_shut = bool(np.isclose(lv, 1.0).any())
    # first pass, vectorised: the smallest allowed level >= each cut
    ok = allowed[:, :, None] & (lv[None, :, None] >= cut[:, None, :] - 1e-9)  # (E, K, T)
    if not ok.any(axis=1).all():
        return None
    r = lv[ok.argmax(axis=1)].astype(float)  # levels are sorted: argmax = the first (smallest) allowed

    def up(i: int, v: float) -> float | None:
        cand = lv[allowed[i] & (lv >= v - 1e-9)]
        return float(cand.min()) if len(cand) else None

    dmin = ent["min_shutdown_h"].to_numpy(int)
    ramps = ent["ramp"].to_numpy(float)
    for _ in range(max_iter):
        changed = False
        for i in range(ep.E):
            d, ramp, ri = int(dmin[i]), float(ramps[i]), r[i]
            shut = np.abs(ri - 1.0) < 1e-9 if has_shut else np.zeros(ep.T, bool)
            if not shut.any() and ramp >= 1.0 and ri[0] <= ramp + 1e-9:
                continue  # nothing to repair on this row
            for t in range(ep.T):
                s_t = shut[t]
                if s_t and (t == 0 or not shut[t - 1]):
                    end = min(ep.T, t + d)
                    if not shut[t:end].all():
                        ri[t:end], shut[t:end], changed = 1.0, True, True
                prev = ri[t - 1] if t else 0.0
                if shut[t] or (t and shut[t - 1]):
                    continue
                if ri[t] - prev > ramp + 1e-9 and t:
                    u = up(i, ri[t] - ramp)
                    if u is None:
                        return None
                    ri[t - 1], changed = u, True
                    shut[t - 1] = has_shut and abs(u - 1.0) < 1e-9
                elif prev - ri[t] > ramp + 1e-9:
                    u = up(i, prev - ramp)
                    if u is None:
                        return None
                    ri[t], changed = u, True
                    shut[t] = has_shut and abs(u - 1.0) < 1e-9
                elif t == 0 and ri[0] > ramp + 1e-9:
                    return None
        if not changed:
            break
    return r if feasible(ep, r) else None


def round_down(ep: Episode, cut: np.ndarray) -> np.ndarray:
    """Improve a feasible schedule greedily: lower cuts one allowed level at a time, the most valuable
    enterprise-hours first, wherever every floor, cap, emission cap and ramp still holds (shutdown hours are
    left alone).  Returns the improved schedule (the input if it was not feasible)."""
    if not feasible(ep, cut):
        return cut
    r = cut.copy()
    B = ep.baseline
    val = ep.enterprises["value_per_unit"].to_numpy(float)
    ramp = ep.enterprises["ramp"].to_numpy(float)
    allowed = ep.allowed()
    lv = ep.levels
    need = (ep.floors() * B).sum(axis=1)
    done = (r * B).sum(axis=1)
    W = ep.sr_weight()
    slack = np.where(np.isfinite(ep.cap), ep.cap - (ep.background - ep.reduction(r)), np.inf)  # (R, T)
    erate = {p: ep.rates[p].to_numpy(float) for p in ep.emission_caps}
    eslack = {p: c - (erate[p][:, None] * B * (1 - r)).sum(axis=0) for p, c in ep.emission_caps.items()}
    T = ep.T
    order = np.argsort(-(val[:, None] * B).ravel(), kind="stable")
    for k in order:
        e, t = divmod(int(k), T)
        while True:
            c = r[e, t]
            if c <= 0 or abs(c - 1.0) < 1e-9:
                break
            lower = lv[allowed[e] & (lv < c - 1e-9)]
            if not len(lower):
                break
            c2 = float(lower.max())
            d = c - c2
            if done[e] - B[e, t] * d < need[e] - 1e-9:
                break
            prev = r[e, t - 1] if t else 0.0
            if not (t and abs(prev - 1.0) < 1e-9) and abs(c2 - prev) > ramp[e] + 1e-9:
                break
            if t + 1 < T and abs(r[e, t + 1] - 1.0) > 1e-9 and abs(r[e, t + 1] - c2) > ramp[e] + 1e-9:
                break
            ok = True
            for L, w in W.items():
                if t + L < T and (w[e] * B[e, t] * d > slack[:, t + L] + 1e-9).any():
                    ok = False
                    break
            if ok and any(erate[p][e] * B[e, t] * d > eslack[p][t] + 1e-9 for p in eslack):
                ok = False
            if not ok:
                break
            r[e, t] = c2
            done[e] -= B[e, t] * d
            for L, w in W.items():
                if t + L < T:
                    slack[:, t + L] -= w[e] * B[e, t] * d
            for p in eslack:
                eslack[p][t] -= erate[p][e] * B[e, t] * d
    return r if feasible(ep, r) else cut


def _lost_value(ep: Episode, cut: np.ndarray) -> float:
    return float((cut * ep.baseline * ep.enterprises["value_per_unit"].to_numpy(float)[:, None]).sum())


def _one_hot(ep: Episode, cut: np.ndarray) -> np.ndarray:
    """(E, K, T) level indicators of a cut schedule."""
    return np.isclose(cut[:, None, :], ep.levels[None, :, None]).astype(float)


def solve_curtailment(
    problem: Episode | dict[str, Any] | str | Path,
    *,
    time_limit: float = 60.0,
    mip_rel_gap: float = 0.005,
    duals: bool = True,
) -> CurtailmentResult:
    """Least lost output value meeting every concentration cap, alert floor and emission cap.

    Raises
    ------
    coreduce.optimise.Infeasible
        Naming the receptor-hours (or floors, emission caps) that cannot be met and by how much.
    """
    import time

    ep = problem if isinstance(problem, Episode) else read_problem(problem)
    t_start = time.perf_counter()

    def left() -> float:
        return max(1.0, time_limit - (time.perf_counter() - t_start))

    # 1. the LP relaxation: its duals are the shadow prices, its optimum a lower bound on the lost value
    lp, _ = build_curtailment(ep, relax=True)
    lp_st = solve(lp)
    if lp_st.status == "infeasible":  # no fractional schedule meets the caps: no integer one does either
        raise explain_infeasible("the curtailment problem", lambda: build_curtailment(ep, elastic=True, relax=True))
    bound = float(lp_st.objective) if lp_st.status == "optimal" else 0.0
    best: np.ndarray | None = None
    how = "MILP"
    solves = [lp_st]
    if lp_st.status == "optimal":
        xlp = lp.variables["x"].solution.transpose("enterprise", "level", "t").fillna(0).values  # (E, K, T)
        # 2. a first incumbent: the LP schedule with every cut raised to an allowed level (never breaks a cap)
        best = round_up(ep, _cut_of(lp, ep, exact=True))
        how = "LP rounding"
        if best is not None:  # then lowered greedily where every constraint still holds
            best = round_down(ep, best)
            how = "LP rounding + greedy descent"
        # 3. fix and solve (a RINS-like neighbourhood): enterprise-hours whose LP level is already integral keep
        #    it, except next to a fractional hour (room for ramps); the MILP decides the rest.  The LP optimum
        #    stays the lower bound, so a schedule within the gap of it needs no full MILP.
        frac = ~(np.abs(xlp - np.round(xlp)) < 1e-6).all(axis=1)  # (E, T)
        free = frac.copy()
        free[:, 1:] |= frac[:, :-1]
        free[:, :-1] |= frac[:, 1:]
        if frac.any() and (best is None or _gap(_lost_value(ep, best), bound) > mip_rel_gap):
            # fixed hours take the rounded schedule's levels (= the LP's where integral), so that schedule is a
            # feasible start of the neighbourhood MILP
            fixed_at = _one_hot(ep, best) if best is not None else np.round(xlp)
            sub, _ = build_curtailment(ep, fix=np.where(free[:, None, :], np.nan, fixed_at))
            try:
                st_sub = solve(
                    sub,
                    time_limit=0.85 * left(),
                    mip_rel_gap=mip_rel_gap / 2,
                    start=None if best is None else {"x": fixed_at},
                    options={"mip_heuristic_effort": 0.3},
                )
            except OptimiseError:  # no schedule found in the neighbourhood within its time
                st_sub = None
            if st_sub is not None:
                solves.append(st_sub)
                if st_sub.status != "infeasible":
                    c_sub = _cut_of(sub, ep)
                    if feasible(ep, c_sub) and (best is None or _lost_value(ep, c_sub) < _lost_value(ep, best) - 1e-9):
                        best = c_sub
                        how = f"fix-and-solve ({int(free.sum())} of {free.size} enterprise-hours free)"
    # 4. the full MILP, from the best schedule so far, only while the gap to the LP bound exceeds the target
    st = None
    if best is None or _gap(_lost_value(ep, best), bound) > mip_rel_gap:
        m, _ = build_curtailment(ep)
        st = solve(
            m,
            time_limit=left(),
            mip_rel_gap=mip_rel_gap,
            start=None if best is None else {"x": _one_hot(ep, best)},
            options={"mip_heuristic_effort": 0.3},
        )
        solves.append(st)
        if st.status == "infeasible":
            raise explain_infeasible("the curtailment problem", lambda: build_curtailment(ep, elastic=True, relax=True))
        c_m = _cut_of(m, ep)
        if best is None or _lost_value(ep, c_m) < _lost_value(ep, best) - 1e-9:
            best, how = c_m, "MILP"
        db = _dual_bound(m)
        if db is not None:
            bound = max(bound, db)
    cut = best
    objective = _lost_value(ep, cut)
    gap = _gap(objective, bound)
    cut = np.where(np.abs(cut) < TOL, 0.0, cut)
    red = ep.reduction(cut)
    before = ep.background
    after = before - red
    hrs = ep.hours
    E, T = ep.E, ep.T
    sched = pd.DataFrame(
        {
            "enterprise": np.repeat(ep.enterprises["id"].to_numpy(), T),
            "hour": np.tile(hrs, E),
            "cut": cut.ravel(),
            "output": ((1 - cut) * ep.baseline).ravel(),
            "lost_value": (cut * ep.baseline * ep.enterprises["value_per_unit"].to_numpy(float)[:, None]).ravel(),
        }
    )
    reductions = {}
    for p in POLLUTANTS:
        r = ep.rates[p].to_numpy(float)[:, None] * ep.baseline * cut
        sched[f"{p}_cut"] = r.ravel()
        if ep.rates[p].any():
            reductions[p] = float(r.sum())
    conc = pd.DataFrame(
        {
            "receptor": np.repeat(ep.receptors.to_numpy(), T),
            "hour": np.tile(hrs, len(ep.receptors)),
            "before": before.ravel(),
            "after": after.ravel(),
            "cap": ep.cap.ravel(),
        }
    )
    binding = _binding(ep, cut, after, lp if lp_st.status == "optimal" else None) if duals else pd.DataFrame()
    words = []
    for b in binding.head(10).itertuples():
        words.append(b.meaning)
    viol_before = int((before > ep.cap + 1e-9).sum())
    expl = {
        "what": "least lost output value meeting the concentration caps, alert-level floors and emission caps",
        "value_unit": ep.value_unit,
        "objective": objective,
        "lower_bound": bound,
        "incumbent_from": how,
        "receptor_hours_over_cap_before": viol_before,
        "receptor_hours_over_cap_after": int((after > ep.cap + 1e-6).sum()),
        "peak_before": float(before.max()),
        "peak_after": float(after.max()),
        "enterprise_hours_curtailed": int((cut > 0).sum()),
        "co2_co_reduction_t": reductions.get("CO2", 0.0),
        "reductions_t": reductions,
        "levels": ep.levels.tolist(),
        "scheme": ep.scheme,
        "curtailment_levels_version": coefficients.load("curtailment_levels").version,
        "mip_gap": gap,
        "mip_gap_basis": "(lost value - best lower bound) / lost value; the bound is the LP relaxation's optimum "
        "or HiGHS's MILP dual bound, whichever is higher",
        "solver": {
            **solves[-1].solver_info(),
            "seconds": sum(x.seconds for x in solves),
            "log": "".join(x.log for x in solves)[-4000:],
        },
        "shadow_prices": "duals of the LP relaxation (x in [0,1]) at its optimum: the value of relaxing a cap by "
        "one unit in the relaxed problem (a lower bound on the integer problem's)",
        "in_words": words,
    }
    return CurtailmentResult(objective, sched, conc, reductions, binding, expl, gap)


def _gap(obj: float, bound: float) -> float:
    return 0.0 if obj <= 0 else max(0.0, (obj - bound) / abs(obj))


def _dual_bound(m: linopy.Model) -> float | None:
    try:
        v = float(m.solver_model.getInfo().mip_dual_bound)
    except Exception:
        return None
    return v if np.isfinite(v) else None


def _binding(ep: Episode, cut: np.ndarray, after: np.ndarray, lp: linopy.Model | None) -> pd.DataFrame:
    rows = []
    ok = lp is not None
    unit = ep.value_unit
    if np.isfinite(ep.cap).any():
        du = (
            lp.constraints["conc_cap"].dual.transpose("receptor", "t").values
            if ok and "conc_cap" in lp.constraints
            else np.full(ep.cap.shape, np.nan)
        )
        for r, t in zip(*np.nonzero(np.isfinite(ep.cap) & (after >= ep.cap - 1e-6)), strict=True):
            price = float(du[r, t])
            rows.append(
                {
                    "constraint": "concentration cap",
                    "where": f"{ep.receptors[r]} {ep.hours[t]:%Y-%m-%d %H:00}Z",
                    "limit": float(ep.cap[r, t]),
                    "unit": "µg/m³",
                    "shadow_price": price,
                    "price_unit": f"{unit} per µg/m³",
                    "meaning": f"the cap of {ep.cap[r, t]:.4g} µg/m³ at {ep.receptors[r]} at "
                    f"{ep.hours[t]:%Y-%m-%d %H:00}Z binds: each 1 µg/m³ it is tightened costs about "
                    f"{price:,.0f} {unit} of lost output",
                }
            )
    fl = ep.floors()
    need = (fl * ep.baseline).sum(axis=1)
    done = (cut * ep.baseline).sum(axis=1)
    du_f = lp.constraints["alert_floor"].dual.values if ok and "alert_floor" in lp.constraints else None
    for i in np.nonzero((need > 0) & (done <= need * (1 + 1e-7) + 1e-9))[0]:
        e = ep.enterprises["id"].iloc[i]
        price = float(du_f[i]) if du_f is not None else np.nan
        alert_rates = {p: float(ep.rates.at[e, p]) for p in ALERT_POLLUTANTS if ep.rates.at[e, p] > 0}
        main = max(alert_rates, key=alert_rates.get) if alert_rates else None  # its largest pollutant by mass
        per_t = price / ep.rates.at[e, main] if main and np.isfinite(price) else np.nan
        rows.append(
            {
                "constraint": "alert-level floor",
                "where": str(e),
                "limit": float(need[i]),
                "unit": "unit",
                "shadow_price": per_t,
                "price_unit": f"{unit} per t {main}",
                "meaning": f"{e} (grade {ep.enterprises['grade'].iloc[i]}) cuts exactly its alert-level minimum "
                f"({need[i]:.4g} units of output); each further t of {main} it must cut costs about {per_t:,.0f} "
                f"{unit}",
            }
        )
    for p, capv in ep.emission_caps.items():
        emis = (ep.rates[p].to_numpy(float)[:, None] * ep.baseline * (1 - cut)).sum(axis=0)
        du = lp.constraints[f"emission_cap[{p}]"].dual.values if ok else np.full(ep.T, np.nan)
        for t in np.nonzero(emis >= capv - 1e-9)[0]:
            price = -float(du[t])
            rows.append(
                {
                    "constraint": f"emission cap {p}",
                    "where": f"{ep.hours[t]:%Y-%m-%d %H:00}Z",
                    "limit": float(capv[t]),
                    "unit": "t/h",
                    "shadow_price": price,
                    "price_unit": f"{unit} per t",
                    "meaning": f"the {p} cap of {capv[t]:.4g} t/h at "
                    f"{ep.hours[t]:%Y-%m-%d %H:00}Z binds: each t tighter costs about {price:,.0f} {unit}",
                }
            )
    df = pd.DataFrame(rows, columns=["constraint", "where", "limit", "unit", "shadow_price", "price_unit", "meaning"])
    return df.sort_values("shadow_price", ascending=False, kind="stable", na_position="last").reset_index(drop=True)


def feasible(ep: Episode, cut: np.ndarray) -> bool:
    """Whether a cut schedule (E, T) meets every constraint (a numpy reference, used by brute-force tests)."""
    allowed = ep.allowed()
    lv = ep.levels
    match = np.isclose(cut[:, None, :], lv[None, :, None])  # (E, K, T)
    if not ((match.sum(axis=1) == 1) & (match & allowed[:, :, None]).any(axis=1)).all():
        return False
    shut = np.isclose(cut, 1.0)
    ent = ep.enterprises
    prev_c = np.concatenate([np.zeros((ep.E, 1)), cut[:, :-1]], axis=1)
    prev_s = np.concatenate([np.zeros((ep.E, 1), bool), shut[:, :-1]], axis=1)
    ramp = ent["ramp"].to_numpy(float)[:, None]
    if (~(shut | prev_s) & (np.abs(cut - prev_c) > ramp + 1e-9)).any():
        return False
    # a shutdown that starts at t lasts min_shutdown_h hours (truncated at the episode's end)
    cs = np.concatenate([np.zeros((ep.E, 1)), np.cumsum(shut, axis=1)], axis=1)  # (E, T+1)
    ei, ti = np.nonzero(shut & ~prev_s)
    if len(ei):
        end = np.minimum(ep.T, ti + ent["min_shutdown_h"].to_numpy(int)[ei])
        if (cs[ei, end] - cs[ei, ti] < end - ti).any():
            return False
    need = (ep.floors() * ep.baseline).sum(axis=1)
    if ((cut * ep.baseline).sum(axis=1) < need - 1e-9).any():
        return False
    after = ep.background - ep.reduction(cut)
    if (after > ep.cap + 1e-9).any():
        return False
    for p, capv in ep.emission_caps.items():
        if ((ep.rates[p].to_numpy(float)[:, None] * ep.baseline * (1 - cut)).sum(axis=0) > capv + 1e-9).any():
            return False
    return True


def brute_force(ep: Episode) -> tuple[float, np.ndarray] | None:
    """Enumerate every schedule (levels^(E*T)); the test reference for tiny instances."""
    best = None
    val = ep.enterprises["value_per_unit"].to_numpy(float)[:, None]
    for combo in itertools.product(ep.levels, repeat=ep.E * ep.T):
        cut = np.array(combo).reshape(ep.E, ep.T)
        if not feasible(ep, cut):
            continue
        cost = float((cut * ep.baseline * val).sum())
        if best is None or cost < best[0] - 1e-9:
            best = (cost, cut)
    return best


def estimate_source_receptor(
    emissions: pd.DataFrame,
    concentrations: pd.DataFrame,
    *,
    lags: tuple[int, ...] | list[int] = (0, 1, 2),
    source: str = "history",
) -> pd.DataFrame:
    """A source–receptor matrix with time lags estimated from hourly data by non-negative least squares.

    For each receptor r:  c_{r,t} = a_r + Σ_{e,p,L} SR_{e,r,p,L} · E_{e,p,t−L} + ε_t,  SR >= 0, a_r >= 0
    (``scipy.optimize.nnls``; the hours before the largest lag are dropped).  The estimate is only as good as the
    variation in the history: enterprises whose emissions never vary apart from the others cannot be separated.

    Parameters
    ----------
    emissions : pandas.DataFrame
        ``hour, enterprise, pollutant, t_per_h`` [t/h].
    concentrations : pandas.DataFrame
        ``hour, receptor, value`` [µg/m³].

    Returns
    -------
    pandas.DataFrame
        ``enterprise, receptor, pollutant, lag, coef`` [µg/m³ per t/h], the ``source_receptor`` rows of a
        problem; ``.attrs["background"]`` (receptor -> a_r) and ``.attrs["r2"]`` (receptor -> R²).
    """
    from scipy.optimize import nnls

    for name, df, cols in (
        ("emissions", emissions, ("hour", "enterprise", "pollutant", "t_per_h")),
        ("concentrations", concentrations, ("hour", "receptor", "value")),
    ):
        for c in cols:
            if c not in df.columns:
                raise InputError(f"{source} {name}", f"a column {c!r}", row=1, column=c)
        v = pd.to_numeric(df[cols[-1]], errors="coerce")
        if v.isna().any():
            i = int(v.isna().to_numpy().nonzero()[0][0])
            raise InputError(f"{source} {name}", "a number", row=i + 2, column=cols[-1], value=df[cols[-1]].iloc[i])
    lags = sorted({int(L) for L in lags})
    if not lags or lags[0] < 0:
        raise InputError(source, "lags >= 0", column="lags", value=lags)
    em = emissions.assign(hour=pd.to_datetime(emissions["hour"], utc=True))
    co = concentrations.assign(hour=pd.to_datetime(concentrations["hour"], utc=True))
    X0 = em.pivot_table(index="hour", columns=["enterprise", "pollutant"], values="t_per_h", aggfunc="sum")
    Y = co.pivot_table(index="hour", columns="receptor", values="value", aggfunc="mean")
    hours = X0.index.union(Y.index).sort_values()
    full = pd.date_range(hours.min(), hours.max(), freq="h")
    X0 = X0.reindex(full).fillna(0.0)
    Y = Y.reindex(full)
    Lmax = max(lags)
    blocks, keys = [], []
    for L in lags:
        blocks.append(X0.shift(L).to_numpy())
        keys += [(e, p, L) for e, p in X0.columns]
    X = np.hstack([*blocks, np.ones((len(full), 1))])[Lmax:]
    Yv = Y.to_numpy()[Lmax:]
    if X.shape[0] <= X.shape[1]:
        raise InputError(source, f"more hours ({X.shape[0]}) than coefficients ({X.shape[1]}) to estimate")
    rows, bg, r2 = [], {}, {}
    for j, rec in enumerate(Y.columns):
        ok = np.isfinite(Yv[:, j])
        coef, _ = nnls(X[ok], Yv[ok, j])
        fit = X[ok] @ coef
        ss = float(((Yv[ok, j] - Yv[ok, j].mean()) ** 2).sum())
        r2[str(rec)] = 1.0 - float(((Yv[ok, j] - fit) ** 2).sum()) / ss if ss > 0 else float("nan")
        bg[str(rec)] = float(coef[-1])
        rows += [
            {"enterprise": str(e), "receptor": str(rec), "pollutant": str(p), "lag": int(L), "coef": float(c)}
            for (e, p, L), c in zip(keys, coef[:-1], strict=True)
        ]
    out = pd.DataFrame(rows, columns=["enterprise", "receptor", "pollutant", "lag", "coef"])
    out.attrs["background"] = bg
    out.attrs["r2"] = r2
    return out

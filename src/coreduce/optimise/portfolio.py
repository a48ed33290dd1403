"""Least-cost co-control portfolios (GAINS-style): which control measures meet a pollution target and a carbon
target together at least annual cost.

A measure ``m`` is applied at a level ``a_m`` in ``[0, max_units_m]`` (binary ``0`` or ``max_units_m`` when it is
*lumpy*).  Its annual cost per unit is the capital cost annualised with the capital recovery factor plus O&M:

    annual_cost_m = capital_cost_m * CRF(r, lifetime_m) + om_cost_m,   CRF(r, n) = r (1 + r)^n / ((1 + r)^n - 1)

and it removes ``removal_<P>_m`` t/yr of pollutant ``P`` per unit (negative for a penalty, e.g. the CO2 of a
scrubber's energy use).  Measures of one ``group`` are alternatives on the same base (e.g. three desulphurisation
options on one boiler): their shares ``a_m / max_units_m`` sum to at most 1.

    min  sum_m annual_cost_m a_m
    s.t. sum_m removal_{P,m} a_m >= target_P          for every target pollutant P   (dual: CNY/t, the MAC)
         sum_{m in g} a_m / max_units_m <= 1           for every group g

The duals of the targets are the marginal abatement costs: the extra annual cost of one more tonne of each
target; a target with a positive dual binds.  With lumpy measures the model is a MILP; the duals are then those
of the LP with the lumpy choices fixed at the optimum (stated in the explanation).

Measures file (CSV): ``measure, capital_cost [CNY per unit], lifetime [yr], om_cost [CNY/yr per unit],
max_units, group (optional), lumpy (optional yes/no), removal_<P> [t/yr per unit] ..., source``; an
``annual_cost`` column [CNY/yr per unit] may replace ``capital_cost``/``lifetime``/``om_cost``.
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

from coreduce.errors import InputError
from coreduce.optimise._solve import Infeasible, explain_infeasible, solve

TOL = 1e-7


def crf(rate: float, years: float) -> float:
    """Capital recovery factor ``r (1+r)^n / ((1+r)^n - 1)`` (``1/n`` at ``r = 0``)."""
    if years <= 0:
        raise ValueError(f"lifetime must be > 0 years, got {years}")
    if rate == 0:
        return 1.0 / years
    g = (1.0 + rate) ** years
    return rate * g / (g - 1.0)


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "yes", "true", "y")


def read_measures(path_or_frame: str | Path | pd.DataFrame, *, rate: float = 0.04) -> pd.DataFrame:
    """Read and check a measures table; add ``annual_cost`` [CNY/yr per unit] and ``lumpy`` (bool).

    Raises :class:`coreduce.errors.InputError` naming the file, row, column and value on bad input.
    """
    if isinstance(path_or_frame, pd.DataFrame):
        df, src = path_or_frame.copy(), "<DataFrame>"
    else:
        src = str(path_or_frame)
        try:
            df = pd.read_csv(path_or_frame, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputError(src, f"a readable measures CSV ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    removal = [c for c in df.columns if c.startswith("removal_")]
    need = ["measure", "max_units", "source"]
    has_annual = "annual_cost" in df.columns
    if not has_annual:
        need += ["capital_cost", "lifetime", "om_cost"]
    missing = [c for c in need if c not in df.columns]
    if missing or not removal:
        raise InputError(src, f"columns {[*need, 'removal_<pollutant>']} (missing {missing or 'removal_*'})", row=1)
    numeric = ["max_units", *removal] + (["annual_cost"] if has_annual else ["capital_cost", "lifetime", "om_cost"])
    for c in numeric:
        num = pd.to_numeric(df[c].replace("", "0" if c.startswith("removal_") else None), errors="coerce")
        bad = num.isna() | ~np.isfinite(num)
        if c in ("max_units", "lifetime"):
            bad |= num <= 0
        elif c in ("capital_cost", "om_cost", "annual_cost"):
            bad |= num < 0
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            exp = (
                "a number > 0"
                if c in ("max_units", "lifetime")
                else "a finite number" + ("" if c.startswith("removal_") else " >= 0")
            )
            raise InputError(src, exp, row=i + 2, column=c, value=df[c].iloc[i])
        df[c] = num.astype(float)
    dup = df["measure"].duplicated(keep=False) | (df["measure"].astype(str).str.strip() == "")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            src, "a unique, non-empty measure name", row=i + 2, column="measure", value=df["measure"].iloc[i]
        )
    if (df["source"].astype(str).str.strip() == "").any():
        i = int(np.flatnonzero((df["source"].astype(str).str.strip() == "").to_numpy())[0])
        raise InputError(src, "a source (document, table, year) for every measure", row=i + 2, column="source")
    if not has_annual:
        df["annual_cost"] = [
            c * crf(rate, n) + o for c, n, o in zip(df["capital_cost"], df["lifetime"], df["om_cost"], strict=True)
        ]
    df["lumpy"] = df["lumpy"].map(_truthy) if "lumpy" in df.columns else False
    df["group"] = df["group"].astype(str).str.strip() if "group" in df.columns else ""
    return df.reset_index(drop=True)


def pollutants(measures: pd.DataFrame) -> list[str]:
    return [c[len("removal_") :] for c in measures.columns if c.startswith("removal_")]


def _check_targets(measures: pd.DataFrame, targets: dict[str, float]) -> None:
    have = pollutants(measures)
    for p, v in targets.items():
        if p not in have:
            raise InputError("targets", f"a pollutant with a removal_{p} column (have {have})", column=p, value=v)


def build_portfolio(
    measures: pd.DataFrame,
    targets: dict[str, float],
    *,
    fixed: dict[str, float] | None = None,
    elastic: bool = False,
    relax: bool = False,
) -> tuple[linopy.Model, list[dict[str, Any]]]:
    """The portfolio model (pure: data in, linopy model out).

    ``fixed``: measure -> level (lumpy choices fixed; the model is then an LP with meaningful duals).
    ``elastic``: every target gets a slack and the objective is the total normalised slack (infeasibility).
    ``relax``: lumpy measures are continuous.
    """
    _check_targets(measures, targets)
    idx = pd.Index(measures["measure"].astype(str), name="measure")
    ub = measures["max_units"].to_numpy(float)
    m = linopy.Model()
    a = m.add_variables(lower=0, upper=pd.Series(ub, index=idx), name="level")
    lumpy = measures["lumpy"].to_numpy(bool) & (not relax)
    if fixed:
        fx = np.array([fixed.get(k, np.nan) for k in idx], float)
        keep = ~np.isnan(fx)
        m.add_constraints(a.loc[idx[keep]] == pd.Series(fx[keep], index=idx[keep]), name="fixed")
        lumpy = lumpy & ~keep
    if lumpy.any():
        li = idx[lumpy]
        y = m.add_variables(binary=True, coords=[li], name="apply")
        m.add_constraints(a.loc[li] - y * pd.Series(ub[lumpy], index=li) == 0, name="lumpy")
    share = a / pd.Series(ub, index=idx)
    for g, sub in measures[measures["group"] != ""].groupby("group", sort=True):
        if len(sub) > 1:
            m.add_constraints(
                share.loc[pd.Index(sub["measure"].astype(str), name="measure")].sum() <= 1, name=f"group[{g}]"
            )
    slacks = []
    pidx = pd.Index(sorted(targets), name="pollutant")
    rem = pd.DataFrame({p: measures[f"removal_{p}"].to_numpy(float) for p in pidx}, index=idx)

    coef = xr.DataArray(rem.to_numpy(), coords=[idx, pidx])
    lhs = (a * coef).sum("measure")
    rhs = xr.DataArray([float(targets[p]) for p in pidx], coords=[pidx])
    if elastic:
        s = m.add_variables(lower=0, coords=[pidx], name="shortfall")
        m.add_constraints(lhs + s >= rhs, name="target")
        scale = xr.DataArray([1.0 / max(1.0, abs(float(targets[p]))) for p in pidx], coords=[pidx])
        m.add_objective((s * scale).sum())
        slacks.append(
            {"slack": s, "constraint": "reduction target", "required": rhs.values, "unit": "t/yr", "sense": ">="}
        )
    else:
        m.add_constraints(lhs >= rhs, name="target")
        m.add_objective((a * pd.Series(measures["annual_cost"].to_numpy(float), index=idx)).sum())
    return m, slacks


@dataclass
class PortfolioResult:
    """A least-cost portfolio.

    Attributes
    ----------
    objective : float
        Annual cost [CNY/yr].
    decision : pandas.DataFrame
        ``measure, level, share, annual_cost [CNY/yr], removal_<P> [t/yr]`` per measure (applied or not).
    targets : pandas.DataFrame
        ``pollutant, target [t/yr], achieved [t/yr], mac [CNY/t] (dual), binding``.
    greedy : dict
        The greedy MACC ordering's cost and the saving of the optimum over it.
    explanation : dict
        Plain-words summary: what binds, at what marginal cost, what is applied.
    """

    objective: float
    decision: pd.DataFrame
    targets: pd.DataFrame
    greedy: dict[str, Any]
    explanation: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "unit": "CNY/yr",
            "decision": self.decision[self.decision["level"] > TOL].to_dict(orient="records"),
            "targets": self.targets.to_dict(orient="records"),
            "greedy": self.greedy,
            "explanation": self.explanation,
        }


def _levels(m: linopy.Model) -> np.ndarray:
    return np.asarray(m.variables["level"].solution.values, float)


def solve_portfolio(
    measures: pd.DataFrame | str | Path, targets: dict[str, float], *, rate: float = 0.04
) -> PortfolioResult:
    """Meet every target at least annual cost; duals as marginal abatement costs; saving over greedy MACC.

    Raises
    ------
    Infeasible
        Naming each target that cannot be met and its shortfall [t/yr].
    """
    ms = (
        measures
        if isinstance(measures, pd.DataFrame) and "annual_cost" in measures
        else read_measures(measures, rate=rate)
    )
    m, _ = build_portfolio(ms, targets)
    st = solve(m)
    if st.status == "infeasible":
        raise explain_infeasible("the portfolio", lambda: build_portfolio(ms, targets, elastic=True))
    lev = _levels(m)
    lev = np.where(np.abs(lev) < TOL, 0.0, lev)
    note = "LP duals"
    if ms["lumpy"].any():
        lm, _ = build_portfolio(
            ms, targets, fixed={k: v for k, v, lp in zip(ms["measure"], lev, ms["lumpy"], strict=True) if lp}
        )
        solve(lm)
        duals = lm.constraints["target"].dual
        note = "duals of the LP with the lumpy measures fixed at the optimum"
    else:
        duals = m.constraints["target"].dual
    dec = pd.DataFrame(
        {
            "measure": ms["measure"].astype(str),
            "level": lev,
            "share": lev / ms["max_units"].to_numpy(float),
            "annual_cost": lev * ms["annual_cost"].to_numpy(float),
        }
    )
    for p in pollutants(ms):
        dec[f"removal_{p}"] = lev * ms[f"removal_{p}"].to_numpy(float)
    rows = []
    for p in sorted(targets):
        ach = float(dec[f"removal_{p}"].sum())
        mac = float(duals.sel(pollutant=p))
        rows.append(
            {
                "pollutant": p,
                "target": float(targets[p]),
                "achieved": ach,
                "mac": mac,
                "binding": bool(mac > 1e-9 and ach <= targets[p] * (1 + 1e-7) + 1e-7),
            }
        )
    tg = pd.DataFrame(rows)
    g = greedy_macc(ms, targets)
    obj = float(st.objective)
    g["saving"] = None if g["cost"] is None else g["cost"] - obj
    g["saving_pct"] = None if g["cost"] is None or g["cost"] == 0 else 100 * (g["cost"] - obj) / g["cost"]
    binding = [r for r in rows if r["binding"]]
    words = [
        f"target {r['pollutant']} >= {r['target']:.6g} t/yr binds: one more tonne costs {r['mac']:.6g} CNY/yr"
        for r in binding
    ] + [
        f"target {r['pollutant']} >= {r['target']:.6g} t/yr does not bind (achieved {r['achieved']:.6g} t/yr as a "
        "co-benefit of the other targets' measures)"
        for r in rows
        if not r["binding"]
    ]
    applied = dec[dec["level"] > TOL]
    expl = {
        "solver": st.solver_info(),
        "what": "least annual cost (capital x CRF + O&M) subject to the reduction targets",
        "discount_rate": rate,
        "objective_CNY_per_yr": obj,
        "binding": [r["pollutant"] for r in binding],
        "marginal_abatement_cost_CNY_per_t": {r["pollutant"]: r["mac"] for r in rows},
        "dual_basis": note,
        "in_words": words,
        "applied": {str(r.measure): round(float(r.share), 9) for r in applied.itertuples()},
        "greedy_macc_cost": g["cost"],
        "saving_over_greedy": g["saving"],
    }
    return PortfolioResult(obj, dec, tg, g, expl)


def macc(measures: pd.DataFrame, pollutant: str) -> pd.DataFrame:
    """Marginal abatement cost curve of one pollutant: measures with a positive removal, cheapest per tonne first.

    Columns ``measure, group, cost_per_t [CNY/t], potential [t/yr], cumulative [t/yr], annual_cost [CNY/yr]``.
    """
    r = measures[f"removal_{pollutant}"].to_numpy(float)
    keep = r > 0
    df = (
        pd.DataFrame(
            {
                "measure": measures["measure"].astype(str)[keep],
                "group": measures["group"][keep],
                "cost_per_t": measures["annual_cost"].to_numpy(float)[keep] / r[keep],
                "potential": r[keep] * measures["max_units"].to_numpy(float)[keep],
            }
        )
        .sort_values(["cost_per_t", "measure"], kind="stable")
        .reset_index(drop=True)
    )
    df["cumulative"] = df["potential"].cumsum()
    df["annual_cost"] = df["cost_per_t"] * df["potential"]
    return df


def greedy_macc(measures: pd.DataFrame, targets: dict[str, float]) -> dict[str, Any]:
    """The usual heuristic: for each target in turn (pollutants other than CO2 first), apply the measures in
    order of cost per tonne of that pollutant (skipping alternatives of a group already used) until it is met;
    the last measure partially unless lumpy.  Returns ``cost`` (None when it cannot meet every target), ``levels``."""
    lev = dict.fromkeys(measures["measure"].astype(str), 0.0)
    used_groups: set[str] = set()
    by = measures.set_index(measures["measure"].astype(str))
    order = sorted(targets, key=lambda p: (p.upper() in ("CO2", "CO2E"), p))

    def achieved(p: str) -> float:
        return float(sum(lev[k] * by.at[k, f"removal_{p}"] for k in lev))

    for p in order:
        for row in macc(measures, p).itertuples():
            need = targets[p] - achieved(p)
            if need <= TOL:
                break
            k = str(row.measure)
            grp = str(by.at[k, "group"])
            if lev[k] > 0 or (grp and grp in used_groups):
                continue
            full = float(by.at[k, "max_units"])
            per = float(by.at[k, f"removal_{p}"])
            lev[k] = full if bool(by.at[k, "lumpy"]) else min(full, need / per)
            if grp:
                used_groups.add(grp)
    ok = all(achieved(p) >= targets[p] - 1e-6 * max(1.0, abs(targets[p])) for p in targets)
    cost = float(sum(lev[k] * by.at[k, "annual_cost"] for k in lev))
    return {"cost": cost if ok else None, "levels": {k: v for k, v in lev.items() if v > 0}}


def pareto(
    measures: pd.DataFrame, targets: dict[str, float], vary: str, values: list[float] | np.ndarray
) -> pd.DataFrame:
    """ε-constraint front: least cost with ``targets[vary]`` set to each value (the other targets kept).

    Columns ``<vary>_target, cost [CNY/yr], <P>_achieved ..., mac_<vary> [CNY/t], feasible``."""
    rows = []
    for v in values:
        t = {**targets, vary: float(v)}
        try:
            r = solve_portfolio(measures, t)
        except Infeasible:
            rows.append({f"{vary}_target": float(v), "cost": np.nan, "feasible": False})
            continue
        row = {f"{vary}_target": float(v), "cost": r.objective, "feasible": True}
        for tr in r.targets.itertuples():
            row[f"{tr.pollutant}_achieved"] = tr.achieved
            row[f"mac_{tr.pollutant}"] = tr.mac
        rows.append(row)
    return pd.DataFrame(rows)


def brute_force(measures: pd.DataFrame, targets: dict[str, float]) -> tuple[float, dict[str, float]] | None:
    """Enumerate every on/off choice of an all-lumpy instance (test reference; 2^n, keep n small)."""
    if not measures["lumpy"].all():
        raise ValueError("brute force needs every measure lumpy")
    names = measures["measure"].astype(str).tolist()
    best: tuple[float, dict[str, float]] | None = None
    for bits in itertools.product((0, 1), repeat=len(names)):
        on = measures[np.array(bits, bool)]
        if (on[on["group"] != ""].groupby("group").size() > 1).any():
            continue
        lv = on["max_units"].to_numpy(float)
        if any(float((on[f"removal_{p}"].to_numpy(float) * lv).sum()) < targets[p] - 1e-9 for p in targets):
            continue
        cost = float((on["annual_cost"].to_numpy(float) * lv).sum())
        if best is None or cost < best[0] - 1e-9:
            best = (cost, dict(zip(on["measure"].astype(str), lv, strict=True)))
    return best

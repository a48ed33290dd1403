"""Economic-emission dispatch: thermal units, wind and solar, storage and demand, hour by hour.

    min  sum_{g,t} (marginal_cost_g + carbon_price * co2_g + sum_p damage_p * rate_{g,p}) p_{g,t} + start costs
    s.t. sum_g p_{g,t} + sum_w r_{w,t} + sum_s (dis_{s,t} - ch_{s,t}) = demand_t            (dual: price)
         0 <= p_{g,t} <= capacity_g          (unit commitment: min_output_g cap_g u <= p <= cap_g u, u binary)
         |p_{g,t} - p_{g,t-1}| <= ramp_g capacity_g        (t >= 1)
         0 <= r_{w,t} <= availability_{w,t} capacity_w      (surplus is curtailed)
         soc_{s,t} = soc_{s,t-1} + eta_ch ch_{s,t} - dis_{s,t} / eta_dis,  soc_{s,-1} = soc_{s,T-1} (cyclic)
         0 <= soc <= energy_s;  0 <= ch, dis <= power_s
         sum_{g,t} rate_{g,p} p_{g,t} <= cap_p                                   (optional; dual: CNY/t)

The same model as PyPSA's single-bus linear optimal power flow with ``StorageUnit`` (cyclic) and generator ramp
limits (the test checks the objective against PyPSA to 1e-6).  ``uc=True`` makes it a unit-commitment MILP
(binary status, minimum output, minimum up/down times, start costs).  Rates are t/MWh; costs per MWh and per t.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from coreduce.errors import InputError
from coreduce.optimise._solve import explain_infeasible, solve

RATE_POLLUTANTS = ("CO2", "SO2", "NOx", "PM2.5", "PM10")


@dataclass
class System:
    """A checked dispatch problem (see :func:`read_system`)."""

    hours: pd.DatetimeIndex
    demand: np.ndarray  # (T,) MW
    thermal: pd.DataFrame  # id, capacity, marginal_cost, ramp, min_output, min_up_h, min_down_h, start_cost, initial_on
    rates: pd.DataFrame  # (G x pollutants) t/MWh
    renewables: pd.DataFrame  # id, capacity
    availability: np.ndarray  # (W, T)
    storage: pd.DataFrame  # id, power, energy, eta_charge, eta_discharge
    carbon_price: float = 0.0
    damage_costs: dict[str, float] | None = None
    caps: dict[str, float] | None = None
    currency: str = "CNY"
    source: str = "<dict>"

    @property
    def T(self) -> int:
        return len(self.hours)

    def effective_cost(self) -> np.ndarray:
        """(G,) marginal cost + carbon price x CO2 rate + damage costs x pollutant rates [currency/MWh]."""
        c = self.thermal["marginal_cost"].to_numpy(float) + self.carbon_price * self.rates["CO2"].to_numpy(float)
        for p, d in (self.damage_costs or {}).items():
            c = c + float(d) * self.rates[p].to_numpy(float)
        return c


def _num(v: Any, where: str, col: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(where, "a number", column=col, value=v) from None
    if not np.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
        raise InputError(
            where,
            f"a finite number{'' if lo is None else f' >= {lo}'}{'' if hi is None else f' <= {hi}'}",
            column=col,
            value=v,
        )
    return x


def read_system(problem: dict[str, Any] | str | Path) -> System:
    """Check a dispatch problem (dict or JSON file).

    JSON format::

        {"hours": [...ISO 8601 UTC...], "demand": [MW ...], "currency": "USD",
         "carbon_price": 50,                                   # per t CO2
         "damage_costs": {"SO2": 40000, "NOx": 15000},         # per t (optional)
         "caps": {"CO2": 250000},                              # t over the horizon (optional)
         "thermal": [{"id": "coal1", "capacity": 600, "marginal_cost": 25, "ramp": 0.3,      # MW, per MWh, /h
                      "rates": {"CO2": 0.95, "SO2": 0.0012, "NOx": 0.0009, "PM2.5": 0.0001},  # t/MWh
                      "min_output": 0.4, "min_up_h": 6, "min_down_h": 6, "start_cost": 20000, "initial_on": true}],
         "renewables": [{"id": "wind", "capacity": 3000, "availability": [0..1 per hour]}],
         "storage": [{"id": "bat", "power": 200, "energy": 800, "eta_charge": 0.95, "eta_discharge": 0.95}]}
    """
    src = "<dict>"
    if not isinstance(problem, dict):
        src = str(problem)
        try:
            problem = json.loads(Path(problem).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(src, f"a readable JSON dispatch problem ({exc})") from exc
    assert isinstance(problem, dict)
    for k in ("hours", "demand", "thermal"):
        if k not in problem:
            raise InputError(src, f"a '{k}' entry in the problem", column=k)
    hours = pd.DatetimeIndex(pd.to_datetime(problem["hours"], utc=True), name="t")
    T = len(hours)
    dem = np.array([_num(v, f"{src} demand", "demand", lo=0) for v in problem["demand"]])
    if len(dem) != T:
        raise InputError(src, f"{T} demand values (one per hour)", column="demand", value=f"{len(dem)} values")
    th, rates = [], []
    for i, g in enumerate(problem["thermal"]):
        w = f"{src} thermal[{i}]"
        th.append(
            {
                "id": str(g.get("id", f"g{i}")),
                "capacity": _num(g.get("capacity"), w, "capacity", lo=0),
                "marginal_cost": _num(g.get("marginal_cost"), w, "marginal_cost"),
                "ramp": _num(g.get("ramp", 1), w, "ramp", lo=0, hi=1),
                "min_output": _num(g.get("min_output", 0), w, "min_output", lo=0, hi=1),
                "min_up_h": int(_num(g.get("min_up_h", 1), w, "min_up_h", lo=1)),
                "min_down_h": int(_num(g.get("min_down_h", 1), w, "min_down_h", lo=1)),
                "start_cost": _num(g.get("start_cost", 0), w, "start_cost", lo=0),
                "initial_on": bool(g.get("initial_on", True)),
            }
        )
        r = g.get("rates", {})
        for p in r:
            if p not in RATE_POLLUTANTS:
                raise InputError(w, f"rates among {RATE_POLLUTANTS}", column="rates", value=p)
        rates.append({p: _num(r.get(p, 0), w, f"rates.{p}", lo=0) for p in RATE_POLLUTANTS})
    thermal = pd.DataFrame(th)
    ren, av = [], []
    for i, r in enumerate(problem.get("renewables", [])):
        w = f"{src} renewables[{i}]"
        ren.append({"id": str(r.get("id", f"w{i}")), "capacity": _num(r.get("capacity"), w, "capacity", lo=0)})
        a = np.array([_num(v, w, "availability", lo=0, hi=1) for v in r.get("availability", [])])
        if len(a) != T:
            raise InputError(w, f"{T} availability values", column="availability", value=f"{len(a)} values")
        av.append(a)
    sto = []
    for i, s in enumerate(problem.get("storage", [])):
        w = f"{src} storage[{i}]"
        sto.append(
            {
                "id": str(s.get("id", f"s{i}")),
                "power": _num(s.get("power"), w, "power", lo=0),
                "energy": _num(s.get("energy"), w, "energy", lo=0),
                "eta_charge": _num(s.get("eta_charge", 1), w, "eta_charge", lo=1e-6, hi=1),
                "eta_discharge": _num(s.get("eta_discharge", 1), w, "eta_discharge", lo=1e-6, hi=1),
            }
        )
    dmg = {p: _num(v, f"{src} damage_costs", p, lo=0) for p, v in (problem.get("damage_costs") or {}).items()}
    caps = {p: _num(v, f"{src} caps", p, lo=0) for p, v in (problem.get("caps") or {}).items()}
    for p in [*dmg, *caps]:
        if p not in RATE_POLLUTANTS:
            raise InputError(src, f"a pollutant among {RATE_POLLUTANTS}", column="damage_costs/caps", value=p)
    return System(
        hours,
        dem,
        thermal,
        pd.DataFrame(rates, index=thermal["id"]),
        pd.DataFrame(ren, columns=["id", "capacity"]),
        np.array(av).reshape(len(ren), T),
        pd.DataFrame(sto, columns=["id", "power", "energy", "eta_charge", "eta_discharge"]),
        _num(problem.get("carbon_price", 0), src, "carbon_price"),
        dmg,
        caps,
        str(problem.get("currency", "CNY")),
        src,
    )


def build_dispatch(
    sy: System, *, uc: bool = False, caps: dict[str, float] | None = None, elastic: bool = False
) -> tuple[linopy.Model, list[dict[str, Any]]]:
    """The dispatch model (LP, or unit-commitment MILP with ``uc=True``)."""
    T = sy.T
    ti = pd.RangeIndex(T, name="t")
    gi = pd.Index(sy.thermal["id"], name="unit")
    cap = xr.DataArray(sy.thermal["capacity"].to_numpy(float), coords=[gi])
    m = linopy.Model()
    p = m.add_variables(lower=0, upper=cap.expand_dims(t=ti).transpose("unit", "t"), name="p")
    supply = p.sum("unit")
    obj = (p * xr.DataArray(sy.effective_cost(), coords=[gi])).sum()
    slacks: list[dict[str, Any]] = []
    if len(sy.renewables):
        wi = pd.Index(sy.renewables["id"], name="renewable")
        ub = xr.DataArray(sy.availability * sy.renewables["capacity"].to_numpy(float)[:, None], coords=[wi, ti])
        r = m.add_variables(lower=0, upper=ub, name="r")
        supply = supply + r.sum("renewable")
    if len(sy.storage):
        si = pd.Index(sy.storage["id"], name="storage")
        pw = xr.DataArray(sy.storage["power"].to_numpy(float), coords=[si]).expand_dims(t=ti).transpose("storage", "t")
        en = xr.DataArray(sy.storage["energy"].to_numpy(float), coords=[si]).expand_dims(t=ti).transpose("storage", "t")
        ch = m.add_variables(lower=0, upper=pw, name="charge")
        dis = m.add_variables(lower=0, upper=pw, name="discharge")
        soc = m.add_variables(lower=0, upper=en, name="soc")
        eta_c = xr.DataArray(sy.storage["eta_charge"].to_numpy(float), coords=[si])
        eta_d = xr.DataArray(sy.storage["eta_discharge"].to_numpy(float), coords=[si])
        m.add_constraints(soc - soc.roll(t=1) - ch * eta_c + dis * (1 / eta_d) == 0, name="soc_balance")
        supply = supply + dis.sum("storage") - ch.sum("storage")
    if elastic:
        short = m.add_variables(lower=0, coords=[ti], name="unserved")
        m.add_constraints(supply + short == xr.DataArray(sy.demand, coords=[ti]), name="balance")
        slacks.append({"slack": short, "constraint": "demand", "required": sy.demand, "unit": "MW", "sense": ">="})
        obj_el = (short / max(1.0, float(sy.demand.max()))).sum()
    else:
        m.add_constraints(supply == xr.DataArray(sy.demand, coords=[ti]), name="balance")
    ramp = sy.thermal["ramp"].to_numpy(float)
    if (ramp < 1).any():
        rr = xr.DataArray(ramp * sy.thermal["capacity"].to_numpy(float), coords=[gi])
        mask = xr.DataArray(
            np.broadcast_to(((ramp < 1)[:, None]) & (np.arange(T) > 0)[None, :], (len(gi), T)), coords=[gi, ti]
        )
        d = p - p.shift(t=1).fillna(0)
        m.add_constraints(d <= rr, name="ramp_up", mask=mask)
        m.add_constraints(-d <= rr, name="ramp_down", mask=mask)
    if uc:
        u = m.add_variables(binary=True, coords=[gi, ti], name="on")
        su = m.add_variables(lower=0, upper=1, coords=[gi, ti], name="start")
        sd = m.add_variables(lower=0, upper=1, coords=[gi, ti], name="stop")
        pmin = xr.DataArray(
            sy.thermal["min_output"].to_numpy(float) * sy.thermal["capacity"].to_numpy(float), coords=[gi]
        )
        m.add_constraints(p - u * cap <= 0, name="uc_max")
        m.add_constraints(p - u * pmin >= 0, name="uc_min")
        init = xr.DataArray(sy.thermal["initial_on"].to_numpy(float), coords=[gi])
        first = xr.DataArray(np.arange(T) == 0, coords=[ti])
        prev = u.shift(t=1).fillna(0)
        # u_t - u_{t-1} = start_t - stop_t, with u_{-1} = initial status
        m.add_constraints(u - prev - su + sd == xr.where(first, init, 0.0), name="uc_transition")
        UT = sy.thermal["min_up_h"].to_numpy(int)
        DT = sy.thermal["min_down_h"].to_numpy(int)
        up_sum, dn_sum = su, sd
        for k in range(1, int(max(UT.max(), DT.max()))):
            mk_u = xr.DataArray(np.broadcast_to((UT > k)[:, None], (len(gi), T)), coords=[gi, ti])
            mk_d = xr.DataArray(np.broadcast_to((DT > k)[:, None], (len(gi), T)), coords=[gi, ti])
            up_sum = up_sum + su.shift(t=k).fillna(0).where(mk_u).fillna(0)
            dn_sum = dn_sum + sd.shift(t=k).fillna(0).where(mk_d).fillna(0)
        m.add_constraints(up_sum - u <= 0, name="min_up")
        m.add_constraints(dn_sum + u <= 1, name="min_down")
        obj = obj + (su * xr.DataArray(sy.thermal["start_cost"].to_numpy(float), coords=[gi])).sum()
    allcaps = {**(sy.caps or {}), **(caps or {})}
    for pol, c in allcaps.items():
        em = (p * xr.DataArray(sy.rates[pol].to_numpy(float), coords=[gi])).sum()
        if elastic:
            s = m.add_variables(lower=0, name=f"over_{pol}")
            m.add_constraints(em - s <= c, name=f"cap[{pol}]")
            slacks.append({"slack": s, "constraint": f"{pol} cap", "required": c, "unit": "t", "sense": "<="})
            obj_el = obj_el + s / max(1.0, c)
        else:
            m.add_constraints(em <= c, name=f"cap[{pol}]")
    m.add_objective(obj_el if elastic else obj)
    return m, slacks


@dataclass
class DispatchResult:
    """A dispatch.

    Attributes
    ----------
    objective : float
        Total cost incl. carbon price, damage costs and start costs [currency].
    schedule : pandas.DataFrame
        ``hour, unit, kind (thermal/renewable/storage), mw`` (storage: discharge - charge).
    emissions : dict
        Totals by pollutant [t].
    prices : pandas.Series
        Hourly marginal price (dual of the balance) [currency/MWh] (LP only).
    explanation : dict
    """

    objective: float
    schedule: pd.DataFrame
    emissions: dict[str, float]
    prices: pd.Series
    explanation: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        tot = self.schedule.groupby(["unit", "kind"], sort=False)["mw"].sum().reset_index(name="mwh")
        return {
            "objective": self.objective,
            "unit": self.explanation["currency"],
            "decision": tot.to_dict(orient="records"),
            "emissions_t": self.emissions,
            "explanation": self.explanation,
        }


def solve_dispatch(
    problem: System | dict[str, Any] | str | Path,
    *,
    uc: bool = False,
    caps: dict[str, float] | None = None,
    time_limit: float = 300.0,
    mip_rel_gap: float = 1e-4,
) -> DispatchResult:
    """Least-cost (cost + carbon price + damages) dispatch; LP prices and cap shadow prices explained.

    Raises
    ------
    coreduce.optimise.Infeasible
        The hours where demand cannot be served (and by how much) or the cap that cannot be met.
    """
    sy = problem if isinstance(problem, System) else read_system(problem)
    m, _ = build_dispatch(sy, uc=uc, caps=caps)
    st = solve(m, time_limit=time_limit, mip_rel_gap=mip_rel_gap if uc else None)
    if st.status == "infeasible":
        raise explain_infeasible("the dispatch", lambda: build_dispatch(sy, caps=caps, elastic=True))
    hrs = sy.hours
    parts = [
        pd.DataFrame(
            {
                "hour": np.tile(hrs, len(sy.thermal)),
                "unit": np.repeat(sy.thermal["id"].to_numpy(), sy.T),
                "kind": "thermal",
                "mw": m.variables["p"].solution.transpose("unit", "t").values.ravel(),
            }
        )
    ]
    if len(sy.renewables):
        parts.append(
            pd.DataFrame(
                {
                    "hour": np.tile(hrs, len(sy.renewables)),
                    "unit": np.repeat(sy.renewables["id"].to_numpy(), sy.T),
                    "kind": "renewable",
                    "mw": m.variables["r"].solution.transpose("renewable", "t").values.ravel(),
                }
            )
        )
    if len(sy.storage):
        net = (m.variables["discharge"].solution - m.variables["charge"].solution).transpose("storage", "t").values
        parts.append(
            pd.DataFrame(
                {
                    "hour": np.tile(hrs, len(sy.storage)),
                    "unit": np.repeat(sy.storage["id"].to_numpy(), sy.T),
                    "kind": "storage",
                    "mw": net.ravel(),
                }
            )
        )
    sched = pd.concat(parts, ignore_index=True)
    pg = m.variables["p"].solution.transpose("unit", "t").values  # (G, T)
    em = {
        pol: float((sy.rates[pol].to_numpy(float)[:, None] * pg).sum())
        for pol in RATE_POLLUTANTS
        if sy.rates[pol].any()
    }
    if uc:
        prices = pd.Series(np.nan, index=hrs, name="price")
    else:
        prices = pd.Series(m.constraints["balance"].dual.values, index=hrs, name="price")
    allcaps = {**(sy.caps or {}), **(caps or {})}
    words, cap_prices = [], {}
    for pol, c in allcaps.items():
        d = float(m.constraints[f"cap[{pol}]"].dual.values) if not uc else np.nan
        cap_prices[pol] = -d if np.isfinite(d) else None
        if np.isfinite(d) and -d > 1e-9:
            words.append(
                f"the {pol} cap of {c:,.6g} t binds: each further t cut costs {-d:,.4g} {sy.currency} "
                f"(the {pol} shadow price)"
            )
        else:
            words.append(f"the {pol} cap of {c:,.6g} t does not bind ({em.get(pol, 0):,.6g} t emitted)")
    wind_av = (
        float((sy.availability * sy.renewables["capacity"].to_numpy(float)[:, None]).sum())
        if len(sy.renewables)
        else 0.0
    )
    used = float(m.variables["r"].solution.values.sum()) if len(sy.renewables) else 0.0
    expl = {
        "what": "least cost of generation + carbon price x CO2 + damage costs x pollutants"
        + (" + start costs (UC MILP)" if uc else ""),
        "currency": sy.currency,
        "objective": float(st.objective),
        "carbon_price": sy.carbon_price,
        "damage_costs": sy.damage_costs or {},
        "emissions_t": em,
        "cap_shadow_prices": cap_prices,
        "renewable_available_MWh": wind_av,
        "renewable_used_MWh": used,
        "renewable_curtailed_MWh": wind_av - used,
        "mean_price": None if uc else float(prices.mean()),
        "mip_gap": st.mip_gap,
        "in_words": words,
        "solve_seconds": st.seconds,
        "solver": st.solver_info(),
    }
    return DispatchResult(float(st.objective), sched, em, prices, expl)


def dispatch_pareto(problem: System | dict[str, Any] | str | Path, pollutant: str, values: list[float]) -> pd.DataFrame:
    """ε-constraint front: least cost with the ``pollutant`` total capped at each value.

    Columns ``cap [t], cost, <P> [t] ..., shadow_price [currency/t], feasible``."""
    from coreduce.optimise._solve import Infeasible

    sy = problem if isinstance(problem, System) else read_system(problem)
    rows = []
    for v in values:
        try:
            r = solve_dispatch(sy, caps={pollutant: float(v)})
        except Infeasible:
            rows.append({"cap": float(v), "cost": np.nan, "feasible": False})
            continue
        rows.append(
            {
                "cap": float(v),
                "cost": r.objective,
                **r.emissions,
                "shadow_price": r.explanation["cap_shadow_prices"][pollutant],
                "feasible": True,
            }
        )
    return pd.DataFrame(rows)


def load_ercot(path: str | Path, start: str, hours: int) -> pd.DataFrame:
    """Hourly ERCOT demand proxy and wind/solar availability from the Fuel Mix Report table.

    ``demand`` [MW] = the sum of all fuels' generation (ERCOT is an island: generation ~ load); ``wind``/``solar``
    availability = that hour's output / the fleet's highest hourly output in the file (a capacity proxy: actual
    output, i.e. after ERCOT's own curtailment).  ``start`` is an hour ending (UTC)."""
    d = pd.read_csv(path)
    w = d.pivot_table(index="hour_ending_utc", columns="fuel", values="mwh", aggfunc="sum").sort_index()
    peak = w[["Wind", "Solar"]].max()
    i = w.index.get_loc(pd.Timestamp(start, tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))
    sl = w.iloc[i : i + hours]
    if len(sl) < hours:
        raise InputError(str(path), f"{hours} hours from {start}", value=f"{len(sl)} hours")
    return pd.DataFrame(
        {
            "hour": pd.to_datetime(sl.index, utc=True),
            "demand": sl.sum(axis=1).to_numpy(),
            "wind": (sl["Wind"] / peak["Wind"]).clip(0, 1).to_numpy(),
            "solar": (sl["Solar"] / peak["Solar"]).clip(0, 1).to_numpy(),
        }
    )

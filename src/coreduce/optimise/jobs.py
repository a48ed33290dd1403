"""Decision pipelines: solve, store the ``decisions`` table and record the run with its claims, in one unit.

Each pipeline follows :mod:`coreduce.account.jobs`: a pure, registered entrypoint (``*_outputs``: reads the
input files, solves, returns the outputs; stores nothing; ``coreduce ledger reproduce RUN`` calls it again) and
a stored form (:func:`curtail`, :func:`dispatch`, :func:`portfolio`) that opens a ledger run, stages the
``decisions`` rows with ``run.write`` (upserted in the same transaction as the ledger record) and claims the
reductions per pollutant with ``run.claim`` (the ledger nets the run's own compute footprint out of CO2):

- curtailment: the episode's emission cuts against the baseline (no curtailment) schedule;
- dispatch: the emissions avoided against the same system dispatched on generation cost alone (no carbon
  price, no damage costs, no caps) — claimed only when the objective prices or caps emissions;
- portfolio: the annual removals of the chosen measures against no measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coreduce.ledger import entrypoint
from coreduce.ledger.hashing import check_readable
from coreduce.store import Store

DECISION_COLUMNS = [
    "problem",
    "item",
    "period_start",
    "quantity",
    "value",
    "unit",
    "objective",
    "objective_unit",
    "note",
]


def _cobenefits(
    kind: str,
    dec: pd.DataFrame,
    cuts: dict[str, float],
    *,
    before: dict[str, float] | None,
    options: dict[str, Any] | None,
    period_start: Any,
    objective: float,
    objective_unit: str,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Attach the decision's co-benefits (:func:`coreduce.benefits.cobenefits.decision_cobenefits`): returns the
    decisions with one ``item="co-benefits"`` row per metric appended, and the co-benefits dict."""
    from coreduce.benefits.cobenefits import decision_cobenefits, decision_rows

    cb = decision_cobenefits(cuts, before=before, measure=kind, options=options)
    rows = pd.DataFrame(decision_rows(cb))
    rows = rows.assign(
        problem=kind, item="co-benefits", period_start=period_start, objective=objective, objective_unit=objective_unit
    )
    return pd.concat([dec, rows[DECISION_COLUMNS]], ignore_index=True), cb


def _problem_block(path: str, key: str) -> dict[str, Any] | None:
    import json

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d.get(key) if isinstance(d, dict) else None


def _claimable() -> set[str]:
    from coreduce import schema

    return set(schema.POLLUTANTS)


# ------------------------------------------------------------------------------------------------ entrypoints
@entrypoint
def curtail_outputs(problem: str, time_limit: float = 60.0, mip_rel_gap: float = 0.005) -> dict[str, Any]:
    """Solve a curtailment problem file (JSON, :func:`coreduce.optimise.curtail.read_problem`); store nothing."""
    from coreduce.benefits.cobenefits import read_options
    from coreduce.optimise.curtail import read_problem, solve_curtailment

    check_readable(problem)
    ep = read_problem(problem)
    opts = read_options(_problem_block(problem, "cobenefits"), f"{problem} cobenefits")
    r = solve_curtailment(ep, time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    s = r.schedule
    dec = pd.DataFrame(
        {
            "problem": "curtail",
            "item": s["enterprise"].astype(str),
            "period_start": s["hour"],
            "quantity": "cut",
            "value": s["cut"],
            "unit": "1",
            "objective": r.objective,
            "objective_unit": r.explanation["value_unit"],
            "note": "fraction of baseline output",
        }
    )
    before = {p: float((ep.rates[p].to_numpy(float)[:, None] * ep.baseline).sum()) for p in r.reductions}
    dec, cb = _cobenefits(
        "curtail",
        dec[DECISION_COLUMNS],
        r.reductions,
        before=before,
        options=opts,
        period_start=s["hour"].min(),
        objective=r.objective,
        objective_unit=r.explanation["value_unit"],
    )
    r.explanation["cobenefits"] = cb
    claims = [
        (
            p,
            v,
            f"counterfactual: baseline output, no curtailment, episode {s['hour'].min():%Y-%m-%dT%H}Z.."
            f"{s['hour'].max():%Y-%m-%dT%H}Z",
        )
        for p, v in r.reductions.items()
    ]
    return {
        "decisions": dec[DECISION_COLUMNS],
        "schedule": s,
        "concentrations": r.concentrations,
        "binding": r.binding,
        "cobenefits": cb,
        "objective": r.objective,
        "summary": {**r.as_dict(), "cobenefits": cb},
        "explanation": r.explanation,
        "claims": claims,
    }


@entrypoint
def dispatch_outputs(problem: str, uc: bool = False, time_limit: float = 300.0) -> dict[str, Any]:
    """Solve a dispatch problem file (JSON, :func:`coreduce.optimise.dispatch.read_system`); store nothing."""
    from dataclasses import replace

    from coreduce.benefits.cobenefits import read_options
    from coreduce.optimise.dispatch import read_system, solve_dispatch

    check_readable(problem)
    opts = read_options(_problem_block(problem, "cobenefits"), f"{problem} cobenefits")
    sy = read_system(problem)
    r = solve_dispatch(sy, uc=uc, time_limit=time_limit)
    s = r.schedule
    dec = pd.DataFrame(
        {
            "problem": "dispatch",
            "item": s["unit"].astype(str),
            "period_start": s["hour"],
            "quantity": "mw",
            "value": s["mw"],
            "unit": "MW",
            "objective": r.objective,
            "objective_unit": sy.currency,
            "note": s["kind"],
        }
    )
    claims = []
    if sy.carbon_price or sy.damage_costs or sy.caps:
        base = solve_dispatch(replace(sy, carbon_price=0.0, damage_costs={}, caps={}), uc=uc, time_limit=time_limit)
        for p in sorted(set(base.emissions) | set(r.emissions)):
            d = base.emissions.get(p, 0.0) - r.emissions.get(p, 0.0)
            if abs(d) > 1e-9:
                claims.append(
                    (
                        p,
                        d,
                        "counterfactual: the same system dispatched on generation cost alone (no "
                        "carbon price, damage costs or caps)",
                    )
                )
        r.explanation["baseline_emissions_t"] = base.emissions
        r.explanation["baseline_cost"] = base.objective
    cb = None
    dec = dec[DECISION_COLUMNS]
    if claims:  # co-benefits against the cost-only dispatch (the same counterfactual as the claims)
        dec, cb = _cobenefits(
            "dispatch",
            dec,
            {p: v for p, v, _ in claims},
            before=base.emissions,
            options=opts,
            period_start=s["hour"].min(),
            objective=r.objective,
            objective_unit=sy.currency,
        )
    r.explanation["cobenefits"] = cb or "no counterfactual: the objective prices no emission and sets no cap"
    return {
        "decisions": dec,
        "cobenefits": cb,
        "schedule": s,
        "prices": r.prices.reset_index(),
        "objective": r.objective,
        "summary": {**r.as_dict(), "cobenefits": cb},
        "explanation": r.explanation,
        "claims": claims,
    }


@entrypoint
def portfolio_outputs(measures: str, targets: dict[str, float], rate: float = 0.04, year: int = 2025) -> dict[str, Any]:
    """Solve a portfolio from a measures CSV and targets [t/yr]; store nothing."""
    from coreduce.optimise.portfolio import read_measures, solve_portfolio

    check_readable(measures)
    ms = read_measures(measures, rate=rate)
    r = solve_portfolio(ms, {k: float(v) for k, v in targets.items()}, rate=rate)
    d = r.decision[r.decision["level"] > 1e-9]
    dec = pd.DataFrame(
        {
            "problem": "portfolio",
            "item": d["measure"].astype(str),
            "period_start": pd.Timestamp(f"{int(year)}-01-01", tz="UTC"),
            "quantity": "level",
            "value": d["level"],
            "unit": "units",
            "objective": r.objective,
            "objective_unit": "CNY/yr",
            "note": [f"share {s:.6g} of its application limit" for s in d["share"]],
        }
    )
    rem = {c[len("removal_") :]: float(r.decision[c].sum()) for c in r.decision.columns if c.startswith("removal_")}
    claims = [(p, v, f"counterfactual: no control measures, annual ({year})") for p, v in rem.items() if abs(v) > 1e-9]
    dec, cb = _cobenefits(
        "portfolio",
        dec[DECISION_COLUMNS],
        {p: v for p, v, _ in claims},
        before=None,
        options=None,
        period_start=pd.Timestamp(f"{int(year)}-01-01", tz="UTC"),
        objective=r.objective,
        objective_unit="CNY/yr",
    )
    r.explanation["cobenefits"] = cb
    return {
        "decisions": dec,
        "cobenefits": cb,
        "decision": r.decision,
        "targets": r.targets,
        "objective": r.objective,
        "summary": {**r.as_dict(), "cobenefits": cb},
        "explanation": r.explanation,
        "claims": claims,
    }


# ------------------------------------------------------------------------------------------------ stored runs
@dataclass
class DecisionResult:
    """What a decision pipeline did: the outputs, and the ledger record when stored."""

    problem: str
    outputs: dict[str, Any]
    run_id: str | None = None
    seq: int | None = None
    store: str | None = None
    stored: dict[str, Any] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)

    @property
    def objective(self) -> float:
        return float(self.outputs["objective"])

    @property
    def explanation(self) -> dict[str, Any]:
        return dict(self.outputs["explanation"])

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: objective, decision, explanation, claims and the run (what ``--json`` prints)."""
        return _jsonable(
            {
                **self.outputs["summary"],
                "problem": self.problem,
                "run_id": self.run_id,
                "seq": self.seq,
                "store": self.store,
                "claims": self.claims,
            }
        )


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, float | np.floating):
        f = float(o)
        return f if np.isfinite(f) else None
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, pd.Timestamp):
        return o.isoformat()
    return o


def _run(
    kind: str, ep: str, fn: Any, params: dict[str, Any], inputs: dict[str, str], store: Store | str | None, record: bool
) -> DecisionResult:
    if store is None:
        return DecisionResult(kind, fn(**params))
    from coreduce import coefficients
    from coreduce.ledger import Ledger

    st = store if isinstance(store, Store) else Store(store)
    try:
        if not record:
            o = fn(**params)
            with st.transaction() as tx:
                tx.upsert("decisions", o["decisions"].assign(run_id="unrecorded"))
            return DecisionResult(kind, o, store=st.display_url)
        led = Ledger(st)
        fv = coefficients.load("curtailment_levels").version if kind == "curtail" else None
        with led.run(f"optimise.{kind}", entrypoint=ep, params=params, inputs=inputs, factor_version=fv) as run:
            o = fn(**params)
            run.outputs({k: o[k] for k in ("decisions", "objective")})
            run.explain(_jsonable(o["explanation"]))
            run.write(
                "decisions",
                o["decisions"].assign(run_id=run.run_id)[["run_id", *DECISION_COLUMNS]],
                source=f"decisions of {kind} run {run.run_id}",
            )
            ok = _claimable()
            for p, v, basis in o["claims"]:
                if p in ok:
                    run.claim(p, float(v), "t", basis=basis)
        res = DecisionResult(kind, o, run.run_id, run.seq, led.display_url, dict(run.stored), run.claims)
        return res
    finally:
        if st is not store:
            st.close()


def curtail(
    problem: str | Path,
    *,
    store: Store | str | None = None,
    record: bool = True,
    time_limit: float = 60.0,
    mip_rel_gap: float = 0.005,
) -> DecisionResult:
    """Plan an episode's curtailment from a problem file; store the decisions and record the run with claims."""
    p = str(check_readable(problem).resolve())
    return _run(
        "curtail",
        "coreduce.optimise.jobs:curtail_outputs",
        curtail_outputs,
        {"problem": p, "time_limit": time_limit, "mip_rel_gap": mip_rel_gap},
        {"problem": p},
        store,
        record,
    )


def dispatch(
    problem: str | Path,
    *,
    uc: bool = False,
    store: Store | str | None = None,
    record: bool = True,
    time_limit: float = 300.0,
) -> DecisionResult:
    """Dispatch a system from a problem file; store the decisions and record the run with claims."""
    p = str(check_readable(problem).resolve())
    return _run(
        "dispatch",
        "coreduce.optimise.jobs:dispatch_outputs",
        dispatch_outputs,
        {"problem": p, "uc": uc, "time_limit": time_limit},
        {"problem": p},
        store,
        record,
    )


def portfolio(
    measures: str | Path,
    targets: dict[str, float],
    *,
    rate: float = 0.04,
    year: int = 2025,
    store: Store | str | None = None,
    record: bool = True,
) -> DecisionResult:
    """Choose a least-cost portfolio; store the decisions and record the run with claims."""
    p = str(check_readable(measures).resolve())
    return _run(
        "portfolio",
        "coreduce.optimise.jobs:portfolio_outputs",
        portfolio_outputs,
        {"measures": p, "targets": {k: float(v) for k, v in targets.items()}, "rate": rate, "year": year},
        {"measures": p},
        store,
        record,
    )

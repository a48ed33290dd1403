"""The demo's decision step: a curtailment plan for the example city's worst episode, and its report section.

No forecasting step exists yet, so the episode is file-based: ``data/demo_episode_beijing_2016.json`` (a copy of
``examples/optimise/curtail_beijing_2016.json``, built by ``examples/optimise/make_curtail_dispatch_examples.py``
from the demo city's inventory and the measured hourly PM2.5 of the worst 72 h of 2016; its ``sources`` say what
is measured, derived and assumed).  When a forecast step puts ``ctx.results["episode_problem"]`` (a problem dict
in the same format), that is planned instead.

Register (the lead, in ``coreduce/demo.py``)::

    from coreduce.optimise.demo_step import DEMO_STEP
    register_step(DEMO_STEP)          # before "report"
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

import pandas as pd

EPISODE = "data/demo_episode_beijing_2016.json"
TIME_LIMIT_S = 10.0
GAP = 0.02


def episode_problem() -> dict[str, Any]:
    """The bundled worst-episode problem of the example city."""
    return json.loads(resources.files("coreduce.optimise").joinpath(EPISODE).read_text(encoding="utf-8"))


def step_decide(ctx: Any, run: Any) -> None:
    """Plan the curtailment of the worst episode; store the decisions, claim the cuts, add the report section."""
    from coreduce.optimise.curtail import solve_curtailment

    prob = ctx.results.get("episode_problem") or episode_problem()
    if run is not None:
        run.input("episode", prob)
    res = solve_curtailment(prob, time_limit=TIME_LIMIT_S, mip_rel_gap=GAP)
    s = res.schedule
    dec = pd.DataFrame(
        {
            "run_id": getattr(run, "run_id", "unrecorded"),
            "problem": "curtail",
            "item": s["enterprise"].astype(str),
            "period_start": s["hour"],
            "quantity": "cut",
            "value": s["cut"],
            "unit": "1",
            "objective": res.objective,
            "objective_unit": res.explanation["value_unit"],
            "note": "fraction of baseline output (demo episode)",
        }
    )
    # the plan's co-benefits (synergy, PM2.5 inhaled avoided; health and money when the problem's
    # ``cobenefits`` block gives the exposed population and its baseline mortality), as decision rows too
    from coreduce.benefits.cobenefits import read_options
    from coreduce.optimise.curtail import read_problem
    from coreduce.optimise.jobs import DECISION_COLUMNS, _cobenefits

    ep = read_problem(prob)
    before = {p: float((ep.rates[p].to_numpy(float)[:, None] * ep.baseline).sum()) for p in res.reductions}
    dec_all, cb = _cobenefits(
        "curtail",
        dec[DECISION_COLUMNS],
        res.reductions,
        before=before,
        options=read_options(prob.get("cobenefits"), "demo episode cobenefits"),
        period_start=s["hour"].min(),
        objective=res.objective,
        objective_unit=res.explanation["value_unit"],
    )
    res.explanation["cobenefits"] = cb
    dec = dec_all.assign(run_id=getattr(run, "run_id", "unrecorded"))[["run_id", *DECISION_COLUMNS]]
    if run is not None:
        run.write("decisions", dec, source="coreduce.optimise.demo_step")
        basis = (
            f"counterfactual: baseline output, no curtailment, episode {s['hour'].min():%Y-%m-%dT%H}Z.."
            f"{s['hour'].max():%Y-%m-%dT%H}Z (demo)"
        )
        from coreduce import schema

        for p, v in res.reductions.items():
            if p in schema.POLLUTANTS:
                run.claim(p, float(v), "t", basis=basis)
        run.output("decisions", dec.drop(columns=["run_id"]))
        run.explain(
            {k: v for k, v in res.explanation.items() if k != "in_words"}
            | {"in_words": res.explanation["in_words"][:10]}
        )
    ctx.results["curtailment"] = res
    ctx.sections.append(report_section(res))


def report_section(res: Any) -> dict[str, Any]:
    """A report section (``id, title, nature, figure, table, text``) for :func:`coreduce.report.write_report`."""
    import plotly.graph_objects as go

    c = res.concentrations
    fig = go.Figure()
    for r, g in c.groupby("receptor", sort=False):
        fig.add_scatter(x=g["hour"], y=g["before"], name=f"{r}: measured (no curtailment)", mode="lines")
        fig.add_scatter(x=g["hour"], y=g["after"], name=f"{r}: with the plan", mode="lines", line={"dash": "dot"})
    fig.update_layout(
        title="PM2.5 during the worst 72 h of 2016, before and after the curtailment plan",
        yaxis_title="PM2.5 [µg/m³]",
        xaxis_title="hour (UTC)",
    )
    w = res.windows()
    tab = w.assign(
        start=w["start"].astype(str).str[:16],
        end=w["end"].astype(str).str[:16],
        cut=(100 * w["cut"]).round(0).astype(int).astype(str) + " %",
    ).rename(
        columns={
            "enterprise": "Enterprise (sector)",
            "start": "From (UTC)",
            "end": "To (UTC)",
            "hours": "Hours",
            "cut": "Output cut",
        }
    )
    e = res.explanation
    red = ", ".join(f"{p} {v:,.1f} t" for p, v in res.reductions.items())
    text = (
        f"Least lost output value {res.objective:,.0f} {e['value_unit']} (MIP gap {100 * (e['mip_gap'] or 0):.2f} %). "
        f"Cuts over the episode: {red} (CO2 is the co-reduction). Peak PM2.5 {e['peak_before']:.0f} → "
        f"{e['peak_after']:.0f} µg/m³. "
        + " ".join(html.escape(x) + "." for x in e["in_words"][:3])
        + " "
        + cobenefits_text(e.get("cobenefits"))
        + " Local industrial curtailment shaves only a few µg/m³ off a regional episode of several hundred "
        "(primary PM2.5 only, box-model source–receptor coefficients: see the problem file's sources)."
    )
    return {
        "id": "decide",
        "title": "Decision: curtailment plan for the worst episode",
        "nature": "DERIVED · measured 2016 episode, inventory-based emission rates, ASSUMED values and "
        "source–receptor coefficients",
        "figure": fig,
        "table": tab,
        "text": text,
    }


def cobenefits_text(cb: dict[str, Any] | None) -> str:
    """One paragraph on a decision's co-benefits (for the report section)."""
    if not cb:
        return ""
    syn = [r for r in cb["synergy"] if r["pollutant"] not in ("CO2", "APeq") and r.get("kg_per_t_co2") is not None]
    parts = ", ".join(f"{r['kg_per_t_co2']:.3g} kg {r['pollutant']}" for r in syn)
    out = f"Co-benefits: per t of CO2 cut, {parts} cut ({cb['apeq_cut']:,.0f} pollution equivalents in all); "
    out += f"{cb['exposure']['inhaled_kg']:.3g} kg of PM2.5 less inhaled (intake fractions {cb['exposure']['if_set']}"
    out += ", values not verified)." if not cb["exposure"]["verified"] else ")."
    h = cb.get("health")
    if h:
        out += f" About {h['avoided_deaths']:.3g} deaths avoided"
        out += f", worth {h['value']:,.0f} {h['currency'] or ''}." if h["value"] is not None else "."
    else:
        out += " Health and money not computed: no exposed population and baseline mortality given."
    return out


def report_html(res: Any) -> str:
    """The section as a standalone HTML fragment (title, text, figure, table)."""
    from coreduce.report.html import figure_html, table_html

    s = report_section(res)
    return (
        f'<section id="{s["id"]}"><h2>{html.escape(s["title"])}</h2><p>{html.escape(s["nature"])}</p>'
        f"<p>{html.escape(s['text'])}</p>{figure_html(s['figure'], 'fig-decide')}{table_html(s['table'])}"
        "</section>"
    )


def _make_step() -> Any:
    from coreduce.demo import DemoStep

    return DemoStep("decide", step_decide, "plan the worst episode's curtailment")


def __getattr__(name: str) -> Any:  # DEMO_STEP, built lazily so importing this module does not import the demo
    if name == "DEMO_STEP":
        return _make_step()
    raise AttributeError(name)

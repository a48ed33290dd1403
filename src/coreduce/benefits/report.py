"""Co-benefits in the report and in the demo.

- :func:`benefits_section` — a report section dict (``id, title, nature, text, figure, table``) as
  :func:`coreduce.report.inventory_context` takes in ``extra_sections``;
- :func:`section_html` — the same section as a standalone HTML fragment;
- :func:`step` — the demo step ``benefits`` (``step(ctx, run)``): when an earlier step left a decision in
  ``ctx.results["decision"]`` (``{"measure": str, "before": inventory, "after": inventory}``) it shows the
  synergy of that decision and claims the cuts; otherwise it shows the co-control baseline of the inventory
  (kg of each pollutant per t CO2 and APeq by sector) and says that no measure was decided.

Register it with::

    from coreduce.demo import DemoStep, register_step
    from coreduce.benefits.report import step as benefits_step
    register_step(DemoStep("benefits", benefits_step, "co-benefits"))
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from coreduce import schema
from coreduce.benefits.synergy import apeq, coordinate_chart, synergy

AIR = ("SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs")


def baseline_table(inventory: pd.DataFrame) -> pd.DataFrame:
    """By sector: direct (scope 1) CO2 [t], each air pollutant per t CO2 [kg/t] and APeq [pollution equivalents].

    Only scope-1 rows count when the inventory has a ``scope`` column: co-pollutants are direct emissions, and
    scope-2 CO2 would dilute the ratios.
    """
    if "scope" in inventory.columns:
        inventory = inventory[inventory["scope"].astype(str) == "1"]
    piv = inventory.pivot_table(index="sector", columns="pollutant", values="amount", aggfunc="sum").fillna(0.0)
    out = pd.DataFrame(index=piv.index)
    out["CO2_t"] = piv.get("CO2", 0.0)
    for p in AIR:
        if p in piv.columns:
            out[f"{p}_kg_per_t_CO2"] = piv[p] * 1000.0 / out["CO2_t"].where(out["CO2_t"] > 0)
    out["APeq"] = [apeq(piv.loc[s].to_dict()) for s in piv.index]
    return out.reset_index()


def benefits_section(
    inventory: pd.DataFrame | None = None, *, decision: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The co-benefits report section (a decision's synergy, or the inventory's co-control baseline)."""
    if decision is not None:
        tab = synergy(decision["before"], decision["after"], measure=decision.get("measure", "measure"))
        return {
            "id": "cobenefits",
            "title": f"Co-benefits of {decision.get('measure', 'the measure')}",
            "nature": "COMPUTED · before/after inventories; statutory pollution equivalents (Environmental "
            "Protection Tax Law) for APeq",
            "text": "kg of each pollutant cut per tonne of CO2 cut, elasticity (relative pollutant cut / relative "
            "CO2 cut) and the quadrant of the co-control coordinate system (I = synergy).",
            "figure": coordinate_chart(tab),
            "table": tab,
        }
    tab = baseline_table(inventory)
    return {
        "id": "cobenefits",
        "title": "Co-control baseline",
        "nature": "COMPUTED · from the inventory; no measure decided, so no cut is shown",
        "text": "Where co-control pays most: kg of each air pollutant emitted per tonne of CO2, and air-pollutant "
        "equivalents (APeq = Σ E/v with the statutory pollution-equivalent values), by sector.",
        "table": tab,
    }


def section_html(section: dict[str, Any]) -> str:
    """A standalone HTML fragment of a section (title, notes, figure, table)."""
    parts = [f'<section id="{html.escape(section["id"])}"><h2>{html.escape(section["title"])}</h2>']
    for k in ("nature", "text"):
        if section.get(k):
            parts.append(f'<p class="{k}">{html.escape(section[k])}</p>')
    if section.get("figure") is not None:
        parts.append(section["figure"].to_html(include_plotlyjs="cdn", full_html=False))
    if section.get("table") is not None:
        parts.append(section["table"].to_html(index=False, float_format=lambda v: f"{v:.6g}", border=0))
    parts.append("</section>")
    return "\n".join(parts)


def step(ctx: Any, run: Any) -> None:
    """Demo step ``benefits``: adds the co-benefits section; with a decision, claims its cuts on ``run``."""
    decision = ctx.results.get("decision")
    sec = benefits_section(ctx.results.get("inventory"), decision=decision)
    ctx.sections.append(sec)
    ctx.results["benefits"] = sec["table"]
    if run is not None:
        run.output("benefits", sec["table"])
        if decision is not None:
            for r in sec["table"].itertuples():
                if r.pollutant in schema.POLLUTANTS and r.cut > 0:
                    run.claim(str(r.pollutant), float(r.cut), "t", basis=f"decision {r.measure}")
        run.explain({"section": sec["title"], "rows": len(sec["table"])})

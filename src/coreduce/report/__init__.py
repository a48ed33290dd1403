"""Reports: Plotly figures (:mod:`.figures`) and a self-contained HTML page (:mod:`.html`).

:func:`inventory_context` turns an inventory (and optionally its daily downscaling and measured
observations) into the template context that :func:`write_report` renders.

Examples
--------
>>> from coreduce.report import inventory_context, write_report  # doctest: +SKIP
>>> ctx = inventory_context(inv, daily=daily, observations=obs, title="Beijing 2019")  # doctest: +SKIP
>>> write_report("report.html", ctx)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from coreduce.report import figures
from coreduce.report.html import write_report

POLLUTANT_ORDER: tuple[str, ...] = ("CO2", "CO2e", "CH4", "N2O", "SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs")


def totals_table(inventory: pd.DataFrame) -> pd.DataFrame:
    """Totals by pollutant: gross emissions, sinks and net [t].

    Returns
    -------
    pandas.DataFrame
        ``pollutant, emissions_t, sinks_t, net_t, rows`` in :data:`POLLUTANT_ORDER`.
    """
    inv = inventory.assign(_sink=inventory["scope"].astype(str) == "sink")
    g = inv.groupby(["pollutant", "_sink"])["amount"].sum().unstack(fill_value=0.0)
    out = pd.DataFrame(
        {
            "pollutant": g.index,
            "emissions_t": g.get(False, pd.Series(0.0, index=g.index)).to_numpy(),
            "sinks_t": g.get(True, pd.Series(0.0, index=g.index)).to_numpy(),
        }
    )
    out["net_t"] = out["emissions_t"] + out["sinks_t"]
    out["rows"] = inv.groupby("pollutant").size().reindex(out["pollutant"]).to_numpy()
    rank = {p: i for i, p in enumerate(POLLUTANT_ORDER)}
    return out.sort_values("pollutant", key=lambda s: s.map(rank).fillna(99), ignore_index=True)


def sector_table(inventory: pd.DataFrame, pollutants: Sequence[str] = ("CO2", "SO2", "NOx", "PM2.5")) -> pd.DataFrame:
    """Emissions [t] by sector (rows) and pollutant (columns), sinks excluded."""
    inv = inventory[(inventory["scope"].astype(str) != "sink") & inventory["pollutant"].isin(list(pollutants))]
    # no fill: a sector without a factor for a pollutant shows an empty cell (no factor), not a zero emission
    t = inv.pivot_table(index="sector", columns="pollutant", values="amount", aggfunc="sum")
    t = t.reindex(columns=[p for p in pollutants if p in t.columns])
    t = t.sort_values(t.columns[0], ascending=False) if len(t.columns) else t
    return t.rename(columns={p: f"{p} [t]" for p in t.columns}).reset_index()


def factors_table(inventory: pd.DataFrame) -> pd.DataFrame:
    """The factors the inventory used, one row each, with their sources.

    Uses ``factor_set, factor_value, factor_unit`` when present (output of
    :func:`coreduce.account.compute_inventory`), else only the canonical ``factor_source``.
    """
    cols = [
        c
        for c in (
            "factor_set",
            "activity_type",
            "sector",
            "pollutant",
            "factor_value",
            "factor_unit",
            "factor_source",
        )
        if c in inventory.columns
    ]
    t = inventory[cols].drop_duplicates().copy()
    if "pollutant" in cols and "activity_type" in cols:
        # CO2e rows all carry the GWP set's citation: one row per GWP set is enough
        co2e = t["pollutant"] == "CO2e"
        t.loc[co2e, "activity_type"] = "(all GHG rows)"
        if "sector" in cols:
            t.loc[co2e, "sector"] = "all"
        t = t.drop_duplicates()
    if "sector" in cols and "factor_set" in cols:
        # one row per distinct factor, listing the sectors it served
        keys = [c for c in cols if c != "sector"]
        t = t.groupby(keys, dropna=False, as_index=False)["sector"].agg(lambda s: ", ".join(sorted(set(map(str, s)))))
        t = t[
            [
                "factor_set",
                "activity_type",
                "pollutant",
                "factor_value",
                "factor_unit",
                "sector",
                "factor_source",
            ]
        ]
        t = t.rename(columns={"sector": "sectors"})
    sort = [c for c in ("activity_type", "pollutant", "factor_set") if c in t.columns]
    return t.sort_values(sort, ignore_index=True)


def inventory_context(
    inventory: pd.DataFrame,
    *,
    daily: pd.DataFrame | None = None,
    observations: pd.DataFrame | None = None,
    title: str = "coreduce inventory report",
    subtitle: str | None = None,
    inputs: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
    footprint: pd.DataFrame | None = None,
    credits: str | None = None,
    summary: str | None = None,
    factor_version: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build the report context for an inventory: figures, tables, provenance.

    Parameters
    ----------
    inventory : pandas.DataFrame
        Annual (or any-period) canonical inventory rows, ``amount`` [t].
    daily : pandas.DataFrame, optional
        Daily rows (e.g. :func:`coreduce.account.temporal.downscale`) for the daily-emissions figure.
    observations : pandas.DataFrame, optional
        Canonical observations: ambient concentrations (µg/m³) and/or stack readings
        (``stack_CO``, ``stack_NOx``, ``load``).
    title, subtitle, summary : str
        Page texts.
    inputs : pandas.DataFrame, optional
        ``input, nature, source, note`` — which inputs are MEASURED, DERIVED, DOWNSCALED.
    notes : sequence of str
        Caveats listed under the summary.
    footprint : pandas.DataFrame, optional
        The AI's own compute footprint (None: the report says it was not recorded).
    credits : str, optional
        Markdown text with sources and licences.
    factor_version : str, optional
        Factor-library version (default: the inventory's ``factor_version`` values).
    **extra
        Passed to the template unchanged.

    Returns
    -------
    dict
        Context for :func:`write_report`.
    """
    if factor_version is None and "factor_version" in inventory.columns:
        factor_version = ", ".join(sorted(set(inventory["factor_version"].dropna().astype(str)))) or None
    obs = (
        observations
        if observations is not None
        else pd.DataFrame(columns=["site_id", "ts", "variable", "value", "unit"])
    )
    has_sinks = (inventory["scope"].astype(str) == "sink").any()
    sections: list[dict[str, Any]] = [
        {
            "id": "sectors",
            "title": "Sector breakdown",
            "figure": figures.sector_breakdown(inventory),
            "table": sector_table(inventory),
            "text": "Emissions by sector; the table adds the co-pollutants from the same activity.",
        },
        {
            "id": "fuels",
            "title": "Fuel breakdown",
            "figure": figures.fuel_breakdown(inventory),
            "text": "Emissions by fuel and process (cement clinker calcination is process CO2).",
        },
        {
            "id": "daily",
            "title": "Daily emissions",
            "figure": figures.daily_emissions(daily)
            if daily is not None
            else figures.empty_figure("No daily series (not downscaled)", "Daily emissions"),
            "text": "Annual sector totals downscaled to days; the shape is an estimate, the totals are kept.",
        },
        {
            "id": "copollutants",
            "title": "Co-pollutants against CO2",
            "figure": figures.copollutants_vs_co2(inventory),
            "table": figures.copollutant_intensity(inventory),
            "text": "Air pollutants emitted with each tonne of CO2 (kg per t CO2) by sector, and per entity.",
        },
        {"id": "top", "title": "Top emitters", "figure": figures.top_emitters(inventory)},
        {
            "id": "sinks",
            "title": "Sinks and net balance",
            "figure": figures.sinks_and_balance(inventory),
            "missing": None
            if has_sinks
            else "No sink data in this example: the net balance shown equals gross "
            "emissions. No forest or other land sink was invented.",
        },
        {"id": "airquality", "title": "Measured air quality", "figure": figures.air_quality(obs)},
        {"id": "stack", "title": "Measured stack emissions", "figure": figures.stack_emissions(obs)},
    ]
    return {
        "title": title,
        "subtitle": subtitle,
        "summary": summary,
        "totals": totals_table(inventory),
        "inputs": inputs,
        "notes": list(notes),
        "sections": sections,
        "factors": factors_table(inventory),
        "factor_version": factor_version,
        "footprint": footprint,
        "credits": credits,
        **extra,
    }


__all__ = ["factors_table", "figures", "inventory_context", "sector_table", "totals_table", "write_report"]

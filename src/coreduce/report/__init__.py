"""Reports: Plotly figures (:mod:`.figures`) and a self-contained HTML page (:mod:`.html`).

:func:`inventory_context` turns an inventory (and optionally its daily downscaling and measured
observations) into the template context that :func:`write_report` renders.

Examples
--------
>>> from coreduce.report import inventory_context, write_report  # doctest: +SKIP
>>> ctx = inventory_context(inv, daily=daily, observations=obs, place="Beijing", year=2016)  # doctest: +SKIP
>>> write_report("report.html", ctx)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from coreduce.report import figures
from coreduce.report.format import MISSING, duration, number, si
from coreduce.report.html import write_report

POLLUTANT_ORDER: tuple[str, ...] = ("CO2", "CO2e", "CH4", "N2O", "SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs")
#: pollutants whose coverage by sector is stated in the summary (CO2 and the GHGs cover every fuel)
CO_POLLUTANTS: tuple[str, ...] = ("SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs")


def coverage(inventory: pd.DataFrame, pollutants: Sequence[str] = CO_POLLUTANTS) -> pd.DataFrame:
    """How much of the inventory each pollutant's total covers, and what is missing (a gap, not a zero).

    Coverage is measured on the CO2: the share of the inventory's CO2 emitted by activities (entity ×
    fuel/process) that also have a row of the pollutant. The gaps are the engine's own report
    (``inventory.attrs["gaps"]``: ``activity_type, pollutant, sector, region, rows, reason``) when present,
    else the (fuel/process, sector) pairs with CO2 but without the pollutant.

    Returns
    -------
    pandas.DataFrame
        ``pollutant, co2_share`` (0–1), ``missing`` (text: ``"gasoline (industry, power); jet_kerosene
        (transport)"``; empty when none) and ``n_gaps`` ((fuel, sector) pairs without a factor).
    """
    inv = inventory[inventory["scope"].astype(str) != "sink"]
    keys = ["entity", "sector", "activity_type"]
    co2 = inv[inv["pollutant"] == "CO2"].groupby(keys, dropna=False)["amount"].sum()
    total = float(co2.sum())
    gaps = inventory.attrs.get("gaps") if hasattr(inventory, "attrs") else None
    rows = []
    for pol in pollutants:
        have = inv.loc[inv["pollutant"] == pol, keys].drop_duplicates()
        covered = co2[co2.index.isin(pd.MultiIndex.from_frame(have))] if len(have) else co2.iloc[0:0]
        share = float(covered.sum()) / total if total > 0 else float("nan")
        if isinstance(gaps, pd.DataFrame) and {"activity_type", "pollutant", "sector"} <= set(gaps.columns):
            g = gaps.loc[gaps["pollutant"] == pol, ["activity_type", "sector"]].astype(str).drop_duplicates()
        else:
            missing = co2[~co2.index.isin(pd.MultiIndex.from_frame(have))] if len(have) else co2
            g = missing.reset_index()[["activity_type", "sector"]].astype(str).drop_duplicates()
        by_fuel = g.sort_values(["activity_type", "sector"]).groupby("activity_type", sort=True)["sector"]
        text = "; ".join(f"{at} ({', '.join(sectors)})" for at, sectors in by_fuel)
        rows.append({"pollutant": pol, "co2_share": share, "missing": text, "n_gaps": len(g)})
    return pd.DataFrame(rows, columns=["pollutant", "co2_share", "missing", "n_gaps"])


def totals_table(inventory: pd.DataFrame) -> pd.DataFrame:
    """Totals by pollutant with human headers: emissions, sinks and net [t], and what they cover.

    Returns
    -------
    pandas.DataFrame
        ``Pollutant, Emissions [t], Sinks [t], Net [t], Covers`` in :data:`POLLUTANT_ORDER`. ``Covers``
        says what a total includes (:func:`coverage`): "all activities", or "activities emitting 62 % of
        the CO2" when some fuels or sectors have no factor for the pollutant — then the total is not a
        city total.
    """
    inv = inventory.assign(_sink=inventory["scope"].astype(str) == "sink")
    g = inv.groupby(["pollutant", "_sink"])["amount"].sum().unstack(fill_value=0.0)
    out = pd.DataFrame(
        {
            "pollutant": g.index.astype(str),
            "emissions": g.get(False, pd.Series(0.0, index=g.index)).to_numpy(),
            "sinks": g.get(True, pd.Series(0.0, index=g.index)).to_numpy(),
        }
    )
    out["net"] = out["emissions"] + out["sinks"]
    cov = coverage(inventory, [p for p in out["pollutant"] if p not in ("CO2", "CO2e")]).set_index("pollutant")

    ghg_gaps = [p for p in ("CH4", "N2O") if p in cov.index and cov.loc[p, "n_gaps"] > 0]

    def covers(pol: str) -> str:
        if pol == "CO2e" and ghg_gaps:
            return f"all CO2; {' and '.join(ghg_gaps)} where they have a factor (see their rows)"
        if pol not in cov.index or cov.loc[pol, "n_gaps"] == 0:
            return "all activities"
        share = cov.loc[pol, "co2_share"]
        pct = "0" if share == 0 else number(100 * share, 2) if share < 0.995 else "> 99.5"
        return f"activities emitting {pct} % of the CO2 (gaps listed below)"

    out["covers"] = out["pollutant"].map(covers)
    rank = {p: i for i, p in enumerate(POLLUTANT_ORDER)}
    out = out.sort_values("pollutant", key=lambda s: s.map(rank).fillna(99), ignore_index=True)
    return out.rename(
        columns={
            "pollutant": "Pollutant",
            "emissions": "Emissions [t]",
            "sinks": "Sinks [t]",
            "net": "Net [t]",
            "covers": "Covers",
        }
    )


def sector_table(inventory: pd.DataFrame, pollutants: Sequence[str] = ("CO2", "SO2", "NOx", "PM2.5")) -> pd.DataFrame:
    """Emissions [t] by sector (rows) and pollutant (columns), sinks excluded, human headers.

    A sector without a factor for a pollutant has no value (shown as "–" in the report: a gap, not a zero).
    """
    inv = inventory[(inventory["scope"].astype(str) != "sink") & inventory["pollutant"].isin(list(pollutants))]
    t = inv.pivot_table(index="sector", columns="pollutant", values="amount", aggfunc="sum")
    t = t.reindex(columns=[p for p in pollutants if p in t.columns])
    t = t.sort_values(t.columns[0], ascending=False) if len(t.columns) else t
    t = t.rename(columns={p: f"{p} [t]" for p in t.columns}).reset_index()
    t.columns.name = None
    return t.rename(columns={"sector": "Sector"})


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
    t = t.sort_values(sort, ignore_index=True)
    if "factor_value" in t.columns:
        t["factor_value"] = t["factor_value"].map(number)
    return t.rename(columns=FACTOR_HEADERS)


FACTOR_HEADERS = {
    "factor_set": "Factor set",
    "activity_type": "Fuel / process",
    "sector": "Sector",
    "sectors": "Sectors",
    "pollutant": "Pollutant",
    "factor_value": "Factor",
    "factor_unit": "Unit",
    "factor_source": "Source",
}


def footprint_table(footprint: pd.DataFrame) -> pd.DataFrame:
    """The compute footprint of the runs as reader-facing text (no ``None``/``<NA>``/e-notation).

    Parameters
    ----------
    footprint : pandas.DataFrame
        :func:`coreduce.ledger.footprint_summary` rows (``kind, status, duration_s, energy_kwh
        [kWh], emissions_kg [kg CO2], grid_factor_id, footprint_method``; optional ``step``).

    Returns
    -------
    pandas.DataFrame
        ``Step, Status, Time, Energy, Emissions, Grid factor, Method`` — energy in Wh with an SI prefix
        (``370 µWh``), emissions in g CO2 with an SI prefix (``210 mg CO2``), missing values as "–".
    """
    fp = footprint
    step = fp["step"] if "step" in fp.columns else fp.get("kind", pd.Series("", index=fp.index))

    def col(name: str) -> pd.Series:
        return fp[name] if name in fp.columns else pd.Series([None] * len(fp), index=fp.index, dtype=object)

    out = pd.DataFrame(
        {
            "Step": step.astype(object).map(lambda v: MISSING if pd.isna(v) else str(v)),
            "Status": col("status").map(lambda v: MISSING if pd.isna(v) else str(v)),
            "Time": col("duration_s").map(duration),
            "Energy": col("energy_kwh").map(lambda v: si(v, "kWh")),
            "Emissions": col("emissions_kg").map(lambda v: MISSING if pd.isna(v) else f"{si(v, 'kg')} CO2"),
            "Grid factor": col("grid_factor_id").map(lambda v: MISSING if pd.isna(v) else str(v)),
            "Method": col("footprint_method").map(lambda v: MISSING if pd.isna(v) else str(v)),
        }
    )
    if len(fp) > 1 and "energy_kwh" in fp.columns:
        e, m = pd.to_numeric(fp["energy_kwh"]), pd.to_numeric(col("emissions_kg"))
        total = {
            "Step": "all steps",
            "Status": MISSING,
            "Time": duration(pd.to_numeric(col("duration_s")).sum(min_count=1)),
            "Energy": si(e.sum(min_count=1), "kWh"),
            "Emissions": MISSING if pd.isna(m.sum(min_count=1)) else f"{si(m.sum(min_count=1), 'kg')} CO2",
            "Grid factor": MISSING,
            "Method": MISSING,
        }
        out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    return out


def _titled(fig: Any, title: str) -> Any:
    fig.update_layout(title=title)
    return fig


def inventory_context(
    inventory: pd.DataFrame,
    *,
    daily: pd.DataFrame | None = None,
    observations: pd.DataFrame | None = None,
    place: str | None = None,
    year: int | None = None,
    profile_year: int | None = None,
    title: str = "coreduce inventory report",
    subtitle: str | None = None,
    inputs: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
    footprint: pd.DataFrame | None = None,
    footprint_recorded: bool = True,
    credits: str | None = None,
    summary: str | None = None,
    factor_version: str | None = None,
    extra_sections: Sequence[dict[str, Any]] = (),
    **extra: Any,
) -> dict[str, Any]:
    """Build the report context for an inventory: figures, tables, provenance.

    Every figure section carries a ``nature`` line saying what it shows — MEASURED, DERIVED or DOWNSCALED,
    the year and the place — and figure titles name the place and year.

    Parameters
    ----------
    inventory : pandas.DataFrame
        Annual (or any-period) canonical inventory rows, ``amount`` [t].
    daily : pandas.DataFrame, optional
        Daily rows (e.g. :func:`coreduce.account.temporal.downscale`) for the daily-emissions figure.
    observations : pandas.DataFrame, optional
        Canonical observations: ambient concentrations (µg/m³) of the same place and year.
    place : str, optional
        Where the inventory is (e.g. ``"Beijing"``), shown on every chart.
    year : int, optional
        The inventory's year, shown on every chart (default: the year of its first period).
    profile_year : int, optional
        Year of the daily profile when it differs from ``year`` (said on the daily chart).
    title, subtitle, summary : str
        Page texts.
    inputs : pandas.DataFrame, optional
        ``Input, Nature, Source, Note`` — which inputs are MEASURED, DERIVED, DOWNSCALED.
    notes : sequence of str
        Caveats listed under the summary (the co-pollutant coverage is added automatically).
    footprint : pandas.DataFrame, optional
        :func:`coreduce.ledger.footprint_summary` rows of the runs behind the report.
    footprint_recorded : bool
        False: the report says the compute footprint was not recorded.
    credits : str, optional
        Markdown text with sources and licences (for the reader: no file paths or build commands).
    factor_version : str, optional
        Factor-library version (default: the inventory's ``factor_version`` values).
    extra_sections : sequence of dict
        More sections (``id, title, figure, table, text, nature``) added by later pipeline steps; shown
        after the inventory sections.
    **extra
        Passed to the template unchanged.

    Returns
    -------
    dict
        Context for :func:`write_report`.
    """
    if factor_version is None and "factor_version" in inventory.columns:
        factor_version = ", ".join(sorted(set(inventory["factor_version"].dropna().astype(str)))) or None
    if year is None and len(inventory) and "period_start" in inventory.columns:
        year = int(pd.to_datetime(inventory["period_start"]).min().year)
    where = " ".join(str(x) for x in (place, year) if x is not None)
    at = f", {where}" if where else ""
    dot = f" · {where} · " if where else " · "
    obs = (
        observations
        if observations is not None
        else pd.DataFrame(columns=["site_id", "ts", "variable", "value", "unit"])
    )
    has_sinks = (inventory["scope"].astype(str) == "sink").any()
    shape = (
        f"the {profile_year} daily shape of each sector" if profile_year and profile_year != year else "daily shapes"
    )
    intensity = figures.copollutant_intensity(inventory).rename(
        columns={
            "sector": "Sector",
            "pollutant": "Pollutant",
            "amount_t": "Emissions [t]",
            "co2_t": "CO2 [t]",
            "kg_per_t_co2": "kg per t CO2",
        }
    )
    n_stations = obs.loc[obs["unit"] == "ug/m^3", "site_id"].nunique() if len(obs) else 0
    sections: list[dict[str, Any]] = [
        {
            "id": "sectors",
            "title": "Sector breakdown",
            "nature": f"DERIVED{dot}annual inventory",
            "figure": _titled(figures.sector_breakdown(inventory), f"CO2 by sector{at}"),
            "table": sector_table(inventory),
            "text": "Emissions by sector; the table adds the air pollutants from the same activity, counting "
            "only the fuels that have a factor for them (gaps listed in the summary). “–”: no factor for "
            "any fuel of that sector (a gap, not a zero).",
        },
        {
            "id": "fuels",
            "title": "Fuel breakdown",
            "nature": f"DERIVED{dot}annual inventory",
            "figure": _titled(figures.fuel_breakdown(inventory), f"CO2 by fuel and process{at}"),
            "text": "Emissions by fuel and process (cement clinker calcination is process CO2).",
        },
        {
            "id": "daily",
            "title": "Daily emissions",
            "nature": f"DOWNSCALED{dot}annual inventory spread over days with {shape}",
            "figure": _titled(figures.daily_emissions(daily), f"Daily CO2 by sector{at} (downscaled)")
            if daily is not None
            else figures.empty_figure("No daily series (not downscaled)", "Daily emissions"),
            "text": "Annual sector totals spread over the days of the year; the daily pattern is an estimate, "
            "the annual totals are kept.",
        },
        {
            "id": "copollutants",
            "title": "Co-pollutants against CO2",
            "nature": f"DERIVED{dot}annual inventory",
            "figure": _titled(figures.copollutants_vs_co2(inventory), f"Co-pollutants against CO2{at}"),
            "table": intensity,
            "text": "Air pollutants emitted with each tonne of CO2 (kg per t CO2) by sector, and per entity; "
            "sectors without a co-pollutant factor are absent.",
        },
        {
            "id": "top",
            "title": "Top emitters",
            "nature": f"DERIVED{dot}annual inventory",
            "figure": _titled(figures.top_emitters(inventory), f"Top emitters of CO2{at}"),
        },
        {
            "id": "sinks",
            "title": "Sinks and net balance",
            "nature": f"DERIVED{dot}annual inventory",
            "figure": figures.sinks_and_balance(inventory),
            "missing": None
            if has_sinks
            else "No sink data in this example: the net balance shown equals gross "
            "emissions. No forest or other land sink was invented.",
        },
        {
            "id": "airquality",
            "title": "Measured air quality",
            "nature": f"MEASURED{dot}daily means of hourly readings at {n_stations} stations",
            "figure": _titled(
                figures.air_quality(obs), f"Measured air quality{at}: daily mean over {n_stations} stations"
            )
            if n_stations
            else figures.air_quality(obs),
        },
        *[dict(x) for x in extra_sections],
    ]
    cov = coverage(inventory)
    present = set(inventory["pollutant"].astype(str))
    cov = coverage(inventory, [p for p in POLLUTANT_ORDER if p not in ("CO2", "CO2e") and p in present])
    cov = cov[cov["n_gaps"] > 0]
    gap_notes = [
        f"{', '.join(g['pollutant'])}: no emission factor for {g['missing'].iloc[0]} — these emissions are "
        f"missing from the {'totals' if len(g) > 1 else 'total'} (a gap in the factor library, not a zero "
        "emission), so "
        f"{'they are' if len(g) > 1 else 'it is'} not {place + '-wide' if place else 'complete'}."
        for _, g in cov.groupby("missing", sort=False)
    ]
    fp_html = footprint_table(footprint) if isinstance(footprint, pd.DataFrame) and len(footprint) else None
    return {
        "title": title,
        "subtitle": subtitle,
        "summary": summary,
        "totals": totals_table(inventory),
        "inputs": inputs,
        "notes": [*gap_notes, *notes],
        "sections": sections,
        "factors": factors_table(inventory),
        "factor_version": factor_version,
        "footprint": fp_html,
        "footprint_recorded": footprint_recorded and fp_html is not None,
        "credits": credits,
        **extra,
    }


__all__ = [
    "coverage",
    "factors_table",
    "figures",
    "footprint_table",
    "inventory_context",
    "sector_table",
    "totals_table",
    "write_report",
]

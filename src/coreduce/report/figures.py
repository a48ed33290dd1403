"""Plotly figure builders for the accounting report — pure functions of canonical DataFrames.

Each builder takes canonical rows (``inventory`` with ``amount`` [t], ``observations`` with ``value`` in
its ``unit``), aggregates what it shows, and returns a :class:`plotly.graph_objects.Figure`.  Nothing is
read from disk and nothing is invented: a figure whose data are absent says so on the canvas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from coreduce.units import conversion_factor

TEMPLATE = "plotly_white"
#: fixed colours per sector so every figure reads the same way
SECTOR_COLOURS: dict[str, str] = {
    "power": "#1f77b4",
    "heat": "#aec7e8",
    "industry": "#ff7f0e",
    "transport": "#2ca02c",
    "commercial": "#9467bd",
    "residential": "#d62728",
    "agriculture": "#8c564b",
}
CO_POLLUTANTS: tuple[str, ...] = ("SO2", "NOx", "PM2.5")
_T_TO_MT = conversion_factor("t", "Mt")
_T_TO_KG = conversion_factor("t", "kg")


def _colour(sector: str) -> str:
    return SECTOR_COLOURS.get(sector, "#7f7f7f")


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.18},
    )
    return fig


def empty_figure(message: str, title: str = "") -> go.Figure:
    """A blank figure carrying only ``message`` (used when the data for a panel are absent)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 16})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=260)


def _emissions(inventory: pd.DataFrame, pollutant: str) -> pd.DataFrame:
    """Emission rows of one pollutant (scope 1 and 2; sinks excluded)."""
    inv = inventory[(inventory["pollutant"] == pollutant) & (inventory["scope"].astype(str) != "sink")]
    return inv


def sector_breakdown(inventory: pd.DataFrame, pollutant: str = "CO2") -> go.Figure:
    """Bar chart of a pollutant's emissions by sector.

    Parameters
    ----------
    inventory : pandas.DataFrame
        Canonical inventory rows (``amount`` [t]).
    pollutant : str
        Pollutant to show (default CO2).

    Returns
    -------
    plotly.graph_objects.Figure
        One bar per sector, in Mt (hover shows t and the share of the total).
    """
    inv = _emissions(inventory, pollutant)
    if inv.empty:
        return empty_figure(f"No {pollutant} rows in the inventory", f"{pollutant} by sector")
    s = inv.groupby("sector")["amount"].sum().sort_values(ascending=False)
    share = s / s.sum()
    fig = go.Figure(
        go.Bar(
            x=s.index,
            y=s.to_numpy() * _T_TO_MT,
            marker_color=[_colour(x) for x in s.index],
            customdata=np.c_[s.to_numpy(), share.to_numpy() * 100],
            hovertemplate="%{x}<br>%{customdata[0]:,.0f} t (%{customdata[1]:.1f} %)<extra></extra>",
        )
    )
    fig.update_yaxes(title=f"{pollutant} [Mt]")
    return _layout(fig, f"{pollutant} by sector, {s.sum() * _T_TO_MT:,.2f} Mt in total")


def fuel_breakdown(inventory: pd.DataFrame, pollutant: str = "CO2") -> go.Figure:
    """Stacked bars of a pollutant's emissions by fuel / process (``activity_type``), split by sector.

    Returns
    -------
    plotly.graph_objects.Figure
        Bars in Mt, one trace per sector, fuels ordered by total.
    """
    inv = _emissions(inventory, pollutant)
    if inv.empty:
        return empty_figure(f"No {pollutant} rows in the inventory", f"{pollutant} by fuel")
    t = inv.groupby(["activity_type", "sector"])["amount"].sum().unstack(fill_value=0.0)
    t = t.loc[t.sum(axis=1).sort_values(ascending=False).index]
    fig = go.Figure()
    for sector in t.sum().sort_values(ascending=False).index:
        fig.add_bar(
            name=sector,
            x=t.index,
            y=t[sector].to_numpy() * _T_TO_MT,
            marker_color=_colour(sector),
            hovertemplate=f"{sector}<br>%{{x}}: %{{y:,.3f}} Mt<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=f"{pollutant} [Mt]")
    return _layout(fig, f"{pollutant} by fuel and process")


def daily_emissions(daily: pd.DataFrame, pollutant: str = "CO2") -> go.Figure:
    """Stacked area of daily emissions by sector.

    Parameters
    ----------
    daily : pandas.DataFrame
        Daily inventory rows (e.g. from :func:`coreduce.account.temporal.downscale`), ``amount`` [t/day].
    pollutant : str
        Pollutant to show.

    Returns
    -------
    plotly.graph_objects.Figure
        One stacked area per sector in kt/day.
    """
    inv = _emissions(daily, pollutant)
    if inv.empty:
        return empty_figure(f"No daily {pollutant} rows", f"Daily {pollutant}")
    t = inv.groupby([pd.to_datetime(inv["period_start"]).dt.tz_convert(None), "sector"])["amount"].sum()
    t = t.unstack(fill_value=0.0).sort_index()
    k = conversion_factor("t", "kt")
    fig = go.Figure()
    for sector in t.sum().sort_values(ascending=False).index:
        fig.add_scatter(
            name=sector,
            x=t.index,
            y=t[sector].to_numpy() * k,
            stackgroup="one",
            mode="lines",
            line={"width": 0.5, "color": _colour(sector)},
            hovertemplate=f"{sector}<br>%{{x|%Y-%m-%d}}: %{{y:,.2f}} kt<extra></extra>",
        )
    fig.update_yaxes(title=f"{pollutant} [kt/day]")
    return _layout(fig, f"Daily {pollutant} by sector (downscaled)", height=440)


def copollutant_intensity(inventory: pd.DataFrame, pollutants: Sequence[str] = CO_POLLUTANTS) -> pd.DataFrame:
    """Co-pollutant emissions per unit of CO2 by sector.

    Returns
    -------
    pandas.DataFrame
        ``sector, pollutant, amount_t, co2_t, kg_per_t_co2`` — pollutant [t], CO2 [t] and the intensity
        [kg pollutant / t CO2] (NaN where the sector has no CO2).
    """
    co2 = _emissions(inventory, "CO2").groupby("sector")["amount"].sum().rename("co2_t")
    inv = inventory[inventory["pollutant"].isin(list(pollutants))]
    p = inv.groupby(["sector", "pollutant"], as_index=False)["amount"].sum().rename(columns={"amount": "amount_t"})
    p = p.merge(co2, left_on="sector", right_index=True, how="left")
    p["kg_per_t_co2"] = p["amount_t"] * _T_TO_KG / p["co2_t"].where(p["co2_t"] > 0)
    return p.sort_values(["pollutant", "sector"], ignore_index=True)


def copollutants_vs_co2(inventory: pd.DataFrame, pollutants: Sequence[str] = CO_POLLUTANTS) -> go.Figure:
    """Co-pollutants against CO2: intensity by sector (left) and entity scatter (right).

    Left: kg of each co-pollutant per t CO2 by sector (grouped bars).  Right: each entity's CO2 [t] against
    its co-pollutant emission [t] on log axes, one trace per pollutant — entities far above the cloud emit
    more air pollutant per unit of carbon.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    ci = copollutant_intensity(inventory, pollutants)
    if ci.empty:
        return empty_figure("No co-pollutant rows in the inventory", "Co-pollutants against CO2")
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.45, 0.55],
        subplot_titles=("kg pollutant per t CO2, by sector", "Entities: pollutant vs CO2 [t]"),
    )
    palette = ("#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#8c564b", "#1f77b4")
    for i, pol in enumerate(pollutants):
        d = ci[ci["pollutant"] == pol]
        fig.add_bar(
            name=pol,
            x=d["sector"],
            y=d["kg_per_t_co2"],
            marker_color=palette[i % len(palette)],
            legendgroup=pol,
            row=1,
            col=1,
            customdata=np.c_[d["amount_t"]],
            hovertemplate=f"{pol}<br>%{{x}}: %{{y:.3f}} kg/t CO2<br>%{{customdata[0]:,.0f}} t<extra></extra>",
        )
    co2 = _emissions(inventory, "CO2").groupby(["entity", "sector"])["amount"].sum().rename("co2")
    for i, pol in enumerate(pollutants):
        p = inventory[inventory["pollutant"] == pol].groupby(["entity", "sector"])["amount"].sum().rename("p")
        d = pd.concat([co2, p], axis=1, join="inner").reset_index()
        d = d[(d["co2"] > 0) & (d["p"] > 0)]
        fig.add_scatter(
            name=pol,
            x=d["co2"],
            y=d["p"],
            mode="markers",
            legendgroup=pol,
            showlegend=False,
            marker={"color": palette[i % len(palette)], "size": 7, "opacity": 0.75},
            text=d["entity"] + " (" + d["sector"] + ")",
            row=1,
            col=2,
            hovertemplate=f"%{{text}}<br>CO2 %{{x:,.0f}} t<br>{pol} %{{y:,.1f}} t<extra></extra>",
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="kg / t CO2", row=1, col=1)
    fig.update_xaxes(type="log", title="CO2 [t]", row=1, col=2)
    fig.update_yaxes(type="log", title="pollutant [t]", row=1, col=2)
    return _layout(fig, "Co-pollutants against CO2", height=460)


def top_emitters(inventory: pd.DataFrame, pollutant: str = "CO2", n: int = 15) -> go.Figure:
    """Horizontal bars of the ``n`` largest emitting entities of a pollutant.

    Returns
    -------
    plotly.graph_objects.Figure
        Bars in Mt coloured by sector, largest on top.
    """
    inv = _emissions(inventory, pollutant)
    if inv.empty:
        return empty_figure(f"No {pollutant} rows in the inventory", "Top emitters")
    t = inv.groupby(["entity", "sector"], as_index=False)["amount"].sum().nlargest(n, "amount")
    t = t.iloc[::-1]
    fig = go.Figure(
        go.Bar(
            y=t["entity"],
            x=t["amount"] * _T_TO_MT,
            orientation="h",
            marker_color=[_colour(s) for s in t["sector"]],
            customdata=np.c_[t["sector"]],
            hovertemplate="%{y}<br>%{customdata[0]}: %{x:,.3f} Mt<extra></extra>",
        )
    )
    fig.update_xaxes(title=f"{pollutant} [Mt]")
    fig.update_yaxes(automargin=True)
    return _layout(fig, f"Top {len(t)} emitters of {pollutant}", height=max(360, 28 * len(t) + 120))


def sinks_and_balance(inventory: pd.DataFrame, pollutant: str = "CO2") -> go.Figure:
    """Waterfall of gross emissions, carbon sinks and the net balance — or a clear 'no sink data' panel.

    Returns
    -------
    plotly.graph_objects.Figure
        Waterfall in Mt when the inventory holds ``scope == "sink"`` rows; otherwise a panel that says there
        are no sink data (never an invented sink).
    """
    sinks = inventory[(inventory["scope"].astype(str) == "sink") & (inventory["pollutant"] == pollutant)]
    if sinks.empty:
        return empty_figure(
            "No sink data in this example: no carbon sink (forest, grassland, wetland area) "
            "was accounted,<br>so the net balance equals gross emissions.",
            "Sinks and net balance",
        )
    gross = float(_emissions(inventory, pollutant)["amount"].sum())
    by_type = sinks.groupby("activity_type")["amount"].sum()
    net = gross + float(by_type.sum())
    fig = go.Figure(
        go.Waterfall(
            x=["gross emissions", *by_type.index, "net balance"],
            y=[gross * _T_TO_MT, *(by_type.to_numpy() * _T_TO_MT), net * _T_TO_MT],
            measure=["absolute", *["relative"] * len(by_type), "total"],
            hovertemplate="%{x}: %{y:,.3f} Mt<extra></extra>",
        )
    )
    fig.update_yaxes(title=f"{pollutant} [Mt]")
    return _layout(fig, "Sinks and net balance")


def air_quality(
    observations: pd.DataFrame, variables: Sequence[str] = ("PM2.5", "PM10", "NO2", "SO2", "O3", "CO")
) -> go.Figure:
    """Daily city mean (mean over stations) of measured concentrations.

    Parameters
    ----------
    observations : pandas.DataFrame
        Canonical observations (``value`` in µg/m³ for concentrations), e.g. daily station means.
    variables : sequence of str
        Variables to plot; CO (mg/m³ scale) goes to its own lower panel.

    Returns
    -------
    plotly.graph_objects.Figure
        Lines in µg/m³ (upper) and CO in mg/m³ (lower).
    """
    obs = observations[observations["variable"].isin(list(variables)) & (observations["unit"] == "ug/m^3")]
    if obs.empty:
        return empty_figure("No measured air-quality data", "Measured air quality")
    ts = pd.to_datetime(obs["ts"], utc=True).dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).dt.floor("D")
    m = obs.assign(day=ts).groupby(["day", "variable"])["value"].mean().unstack()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    for v in variables:
        if v not in m or v == "CO":
            continue
        fig.add_scatter(
            name=v,
            x=m.index,
            y=m[v],
            mode="lines",
            line={"width": 1.2},
            row=1,
            col=1,
            hovertemplate=f"{v} %{{x|%Y-%m-%d}}: %{{y:.1f}} µg/m³<extra></extra>",
        )
    if "CO" in m:
        k = conversion_factor("ug/m^3", "mg/m^3")
        fig.add_scatter(
            name="CO",
            x=m.index,
            y=m["CO"] * k,
            mode="lines",
            line={"width": 1.2, "color": "#555"},
            row=2,
            col=1,
            hovertemplate="CO %{x|%Y-%m-%d}: %{y:.2f} mg/m³<extra></extra>",
        )
    fig.update_yaxes(title="µg/m³", row=1, col=1)
    fig.update_yaxes(title="CO [mg/m³]", row=2, col=1)
    n = obs["site_id"].nunique()
    return _layout(fig, f"Measured air quality: daily mean over {n} stations (Beijing local days)", height=520)


def stack_emissions(observations: pd.DataFrame, site_id: str | None = None) -> go.Figure:
    """Measured stack CO and NOx concentrations against load (CEMS-style readings).

    Parameters
    ----------
    observations : pandas.DataFrame
        Canonical observations with variables ``stack_CO``, ``stack_NOx`` [µg/m³] and ``load`` (electric
        output of the hour, [MWh] per hour = mean [MW]).
    site_id : str, optional
        Plant to show (default: the first site that has ``stack_NOx``).

    Returns
    -------
    plotly.graph_objects.Figure
        Two scatter panels, concentrations in mg/m³ against load [MWh per hour].
    """
    obs = observations[observations["variable"].isin(["stack_CO", "stack_NOx", "load"])]
    if site_id is None and not obs.empty and (obs["variable"] == "stack_NOx").any():
        site_id = str(obs.loc[obs["variable"] == "stack_NOx", "site_id"].iloc[0])
    obs = obs[obs["site_id"] == site_id] if site_id is not None else obs.iloc[0:0]
    if obs.empty:
        return empty_figure("No stack (CEMS) readings", "Measured stack emissions")
    w = obs.pivot_table(index="ts", columns="variable", values="value", aggfunc="mean")
    k = conversion_factor("ug/m^3", "mg/m^3")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("NOx vs load", "CO vs load"))
    for col, (v, colour) in enumerate((("stack_NOx", "#17becf"), ("stack_CO", "#e377c2")), start=1):
        if v in w and "load" in w:
            fig.add_scattergl(
                x=w["load"],
                y=w[v] * k,
                mode="markers",
                name=v,
                row=1,
                col=col,
                marker={"size": 3, "opacity": 0.35, "color": colour},
                hovertemplate=f"load %{{x:.1f}} MWh/h<br>{v} %{{y:.2f}} mg/m³<extra></extra>",
            )
        fig.update_xaxes(title="load [MWh per hour]", row=1, col=col)
        fig.update_yaxes(title="mg/m³", row=1, col=col)
    return _layout(fig, f"Measured stack emissions against load ({len(w):,} hourly readings, site {site_id})")


__all__ = [
    "air_quality",
    "copollutant_intensity",
    "copollutants_vs_co2",
    "daily_emissions",
    "empty_figure",
    "fuel_breakdown",
    "sector_breakdown",
    "sinks_and_balance",
    "stack_emissions",
    "top_emitters",
]

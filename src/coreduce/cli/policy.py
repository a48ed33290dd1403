"""``coreduce policy``: ETS quota and compliance, carbon tax, green power (scope 2), technology economics.

Registered by the main app with ``app.add_typer(policy_app, name="policy")``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import typer

from coreduce.cli._common import check_input_file, out_console, user_errors

app = typer.Typer(
    help="Carbon policy: quota, compliance, carbon tax, green power, techno-economics.", no_args_is_help=True
)


def _echo(obj: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
    else:
        con = out_console()
        for k, v in obj.items():
            con.print(f"{k}: {v}", markup=False)


def _prices(prices: list[str]) -> dict[str, float]:
    from coreduce.errors import InputError

    out = {}
    for p in prices:
        k, _, v = p.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            raise InputError("--price", "name=price, e.g. low=60", value=p) from None
    return out


@app.command("quota")
@user_errors
def quota_cmd(
    supply_mwh: float = typer.Option(None, "--supply-mwh", help="Electricity supplied [MWh] (benchmark method)."),
    history: list[float] = typer.Option([], "--history", help="Historical emissions [t] (grandfathering; repeat)."),
    reduction: float = typer.Option(0.0, "--reduction", help="Grandfathering reduction factor (0..1)."),
    unit_class: str = typer.Option(
        "coal_conventional_above_300MW", "--unit-class", help="Benchmark class of the ets_benchmarks set."
    ),
    year: int = typer.Option(2022, "--year"),
    plan: str = typer.Option("cn_ets_2021_2022", "--plan"),
    cooling: float = typer.Option(1.0, "--cooling", help="Cooling-type correction factor."),
    heat_correction: float = typer.Option(1.0, "--heat-correction", help="Heat-supply correction factor."),
    load_correction: float = typer.Option(1.0, "--load-correction", help="Load (peak-shaving) correction factor."),
    emissions: float = typer.Option(None, "--emissions", help="Verified emissions [t CO2] for the position."),
    inventory: str = typer.Option(None, "--inventory", help="Canonical inventory CSV (scope-1 CO2) instead."),
    price: list[str] = typer.Option([], "--price", help="Price scenario name=price per t (repeat)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Quota (benchmark method, or grandfathering with --history), compliance position and carbon cost."""
    from coreduce.errors import InputError
    from coreduce.policy import carbon_cost, compliance_position, grandfathering_quota, plan_quota

    q: dict[str, Any]
    if history:
        q = {"quota_t": grandfathering_quota(history, reduction), "method": "grandfathering"}
    elif supply_mwh is not None:
        q = plan_quota(
            unit_class,
            year,
            supply_mwh,
            plan=plan,
            cooling=cooling,
            heat_correction=heat_correction,
            load_correction=load_correction,
        )
    else:
        raise InputError("policy quota", "--supply-mwh (benchmark method) or --history (grandfathering)")
    res: dict[str, Any] = dict(q)
    em: Any = emissions
    if inventory:
        check_input_file(inventory, "inventory file")
        em = pd.read_csv(inventory)
    if em is not None:
        pos = compliance_position(q["quota_t"], em)
        res.update(pos)
        if price:
            res["cost"] = carbon_cost(pos["position_t"], _prices(price))
    _echo(res, as_json)


@app.command("carbon-tax")
@user_errors
def carbon_tax_cmd(
    table: str = typer.Option(..., "--table", help="CSV: name, emissions_t, output[, pass_through]."),
    rate: float = typer.Option(..., "--rate", help="Tax per t CO2."),
    pass_through: float = typer.Option(None, "--pass-through", help="Share passed to prices (0..1), all rows."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Carbon-tax incidence per enterprise or sector: tax, cost per output, passed on, borne."""
    from coreduce.policy import carbon_tax

    check_input_file(table, "table")
    out = carbon_tax(pd.read_csv(table), rate, pass_through=pass_through)
    if as_json:
        typer.echo(out.to_json(orient="records", force_ascii=False, indent=2))
    else:
        out_console().print(out.to_string(index=False), markup=False)


@app.command("green-power")
@user_errors
def green_power_cmd(
    electricity_mwh: float = typer.Option(..., "--electricity-mwh"),
    green_mwh: float = typer.Option(0.0, "--green-mwh", help="Green power bought (certificates/green trading)."),
    region: str = typer.Option("CN", "--region"),
    year: int = typer.Option(2022, "--year"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Location- vs market-based scope 2 of a purchase with green power."""
    from coreduce.policy import scope2_green_power

    _echo(scope2_green_power(electricity_mwh, green_mwh, region, year), as_json)


@app.command("techno")
@user_errors
def techno_cmd(
    table: str = typer.Option(
        ..., "--table", help="CSV: technology, capex, opex, savings, lifetime, co2_t[, SO2_t …]."
    ),
    rate: float = typer.Option(0.08, "--rate", help="Discount rate."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """NPV, IRR, payback and levelised cost per t CO2 / per t pollutant of technologies."""
    from coreduce.policy import technology_economics

    check_input_file(table, "table")
    out = technology_economics(pd.read_csv(table), rate)
    if as_json:
        typer.echo(out.to_json(orient="records", force_ascii=False, indent=2))
    else:
        out_console().print(out.to_string(index=False), markup=False)


@app.command("trade")
@user_errors
def trade_cmd(
    position_t: float = typer.Option(..., "--position", help="Surplus (> 0) or deficit (< 0) [t CO2]."),
    price_now: float = typer.Option(..., "--price-now"),
    forecast: float = typer.Option(..., "--forecast", help="Forecast price at compliance."),
    sd: float = typer.Option(0.0, "--sd", help="Forecast standard deviation."),
    risk_aversion: float = typer.Option(0.0, "--risk-aversion"),
    carry: float = typer.Option(0.0, "--carry", help="Cost of money until the forecast date (fraction)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """When to close a position: buy/wait for a deficit, sell/hold for a surplus."""
    from coreduce.policy import trading_decision

    _echo(trading_decision(position_t, price_now, forecast, sd, risk_aversion=risk_aversion, carry=carry), as_json)

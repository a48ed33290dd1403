"""``coreduce factors``: the emission factors with their sources, the factor-set precedence, and which is used.

Which factor is *used* follows :meth:`FactorLibrary.precedence` (documented in ``docs/factors.md``): the first
factor set in precedence order that has a factor for the activity type, pollutant and sector (a row for that
sector or for every sector, ``*``) and for the region (its code, its grid, its country or ``*``) wins; inside
that set the most specific row (sector, then region) and the latest ``year_from`` win.  A set that scales with
a fuel property (``scales_with``, e.g. ``sulfur_pct``) is used only for activity rows that give it; the table
says so (``if sulfur_pct given``) and marks the set used otherwise.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import typer

from coreduce.cli._common import out_console, user_errors

COLUMNS = ["factor_set", "activity_type", "pollutant", "sector", "region", "value", "unit", "year_from", "source"]
ANY = "*"


def mark_used(ef: pd.DataFrame, prec: pd.DataFrame, regions: list[str]) -> pd.DataFrame:
    """``ef`` with ``order`` (the set's place in ``prec``, NA when the set is not used there) and ``used``.

    ``used`` says for which sector the row is the factor applied: ``yes`` (the row for every sector ``*``
    and no more specific row wins), ``yes (power)``, ``if sulfur_pct given (power)``; empty when another
    row wins.  ``regions`` are the region codes that apply (the region, its grid, its country); ``*`` always.
    """
    order = dict(zip(prec["factor_set"], prec["order"], strict=True))
    scales = dict(zip(prec["factor_set"], prec.get("scales_with", pd.Series([""] * len(prec))), strict=True))
    out = ef.copy()
    out["order"] = out["factor_set"].map(order).astype("Int64")
    used: dict[Any, list[str]] = {i: [] for i in out.index}
    region_rank = {r: i for i, r in enumerate(regions)}
    region_rank[ANY] = len(regions)
    cand = out[out["order"].notna() & out["region"].isin(region_rank)]
    for (_, _), grp in cand.groupby(["activity_type", "pollutant"], sort=False):
        for sector in pd.unique(grp["sector"]):
            rows = grp[grp["sector"].isin([sector, ANY])].assign(
                _spec_sector=lambda d, s=sector: (d["sector"] != s).astype(int),
                _spec_region=lambda d: d["region"].map(region_rank),
                _year=lambda d: -pd.to_numeric(d["year_from"], errors="coerce").fillna(0),
            )
            rows = rows.sort_values(["order", "_spec_sector", "_spec_region", "_year"], kind="stable")
            label = "" if sector == ANY else f" ({sector})"
            if sector == ANY and grp["sector"].ne(ANY).any():
                label = " (other sectors)"
            for idx, r in rows.iterrows():
                prop = scales.get(r["factor_set"]) or ""
                prop = "" if prop != prop else str(prop)
                if prop:
                    used[idx].append(f"if {prop} given{label}")
                    continue
                used[idx].append(f"yes{label}")
                break
    out["used"] = [("; ".join(dict.fromkeys(used[i]))) for i in out.index]
    return out


@user_errors
def factors(
    pollutant: str | None = typer.Option(None, "--pollutant", help="Only this pollutant."),
    activity_type: str | None = typer.Option(None, "--activity-type", help="Only this activity type."),
    sector: str | None = typer.Option(None, "--sector", help="Only factors for this sector (and for every sector)."),
    region: str | None = typer.Option(
        None,
        "--region",
        help="Region whose factor-set precedence applies: ISO 3166-2 code or name (CN-GD, Guangdong, US-AL). "
        "Default: no region (the sets declared for every jurisdiction).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the precedence and the factors as JSON."),
) -> None:
    """List the emission factors with their sources, the factor-set precedence, and which factor is used.

    Example: coreduce factors --activity-type coal_bituminous --pollutant NOx --region CN-GD
    """
    from coreduce.account.factors import FactorLibrary

    lib = FactorLibrary.default()
    code = lib.resolve_region(region) if region else ANY
    prec = lib.precedence(code)
    regions = [c for _, c in lib.region_chain(code)] if code != ANY else []
    ef = lib.emission_factors
    if pollutant:
        ef = ef[ef["pollutant"] == pollutant]
    if activity_type:
        ef = ef[ef["activity_type"] == activity_type]
    if sector:
        ef = ef[ef["sector"].isin([sector, ANY])]
    ef = mark_used(ef[COLUMNS], prec, regions)
    ef = ef.sort_values(["activity_type", "pollutant", "order", "sector"], kind="stable", na_position="last")
    if as_json:
        payload = {
            "version": lib.version,
            "region": code,
            "precedence": json.loads(prec.to_json(orient="records", force_ascii=False)),
            "factors": json.loads(ef.to_json(orient="records", force_ascii=False)),
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    con = out_console()
    where = f"region {code}" if code != ANY else "no region given"
    p = Table(title=f"factor-set precedence ({where}; first match wins)")
    for c in ("order", "factor_set", "origin", "jurisdiction", "energy_basis"):
        p.add_column(c, overflow="fold")
    for r in prec.itertuples(index=False):
        p.add_row(str(r.order), r.factor_set, r.origin, r.jurisdiction or "", r.energy_basis or "")
    con.print(p)
    t = Table(title=f"emission factors (library {lib.version}; {where})")
    for c in ["used", "order", *COLUMNS]:
        t.add_column(c, overflow="fold")
    for r in ef.to_dict("records"):
        cells = [r["used"], "" if pd.isna(r["order"]) else str(r["order"])]
        cells += ["" if v is None or (isinstance(v, float) and v != v) else f"{v:g}" if isinstance(v, float)
                  else str(v) for v in (r[c] for c in COLUMNS)]  # fmt: skip
        t.add_row(*cells)
    con.print(t)
    if ef["order"].isna().any():
        con.print("order empty: the set is not used for this region's jurisdiction.")

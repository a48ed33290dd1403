"""The accounting's activity × factor join as one Ibis expression: the same code on DuckDB, PostgreSQL and Spark.

:func:`compute_inventory` resolves the *distinct* keys of the activity (activity type, unit, sector, region,
year, energy basis, control, which fuel properties are given) into a small per-key factor table in Python —
factor choice, unit and calorific-value conversion, removal efficiencies, GWP — and then expands every activity
row against it.  This module is that expansion for activity rows that live in a database engine (a store's
``activity`` table, or a frame shipped to a store's engine):

1. one ``GROUP BY`` over the activity (:func:`distinct_keys`) brings the distinct keys to Python;
2. :meth:`coreduce.account.inventory._Accountant.resolve_keys` — the engine's own resolution, the same Python as
   for a DataFrame — turns them into the per-key factor table (``mult`` = EF · k · (1 − η), or Σ GWP · EF · k ·
   (1 − η) for CO2e; ``per_year`` for sinks; ``scale`` for factors per fuel property);
3. :func:`inventory_expr` joins the activity rows to that table (shipped to the engine as a small in-memory table)
   and computes ``amount · mult [· years] [· sulfur or ash %]`` in the engine, with the inventory's columns.

No branch on the engine: the same Ibis expression compiles to DuckDB, PostgreSQL and Spark SQL.  The products are
taken in the same order as the in-process engine (``((amount · mult) · years) · property``, a factor of exactly 1.0
where a term does not apply), so every engine returns the same IEEE doubles.

What stays outside the engine (small, per distinct key or period, not per row): the resolution (2), the year
fractions of carbon-sink periods (:func:`coreduce.account.sinks.year_fraction`, one per distinct
``period_start, period_end`` of sink rows, shipped as a second small table), and the error messages, which name
the first input line of a key when the activity carries one (``_line``: a frame shipped by ``compute_inventory(...,
on=...)``).  A stored table has no line numbers: its messages name the key's values (activity type, unit, region,
sector, year) and print ``row <NA>`` where the in-process engine would print a line.

The engine's session time zone must be UTC (every coreduce store pins it): the factor year is the UTC year of
``period_start``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from coreduce import schema
from coreduce.account.inventory import (
    _KEY,
    _PROPS,
    DETAIL_COLUMNS,
    ENERGY_BASES,
    INVENTORY_COLUMNS,
    SCOPE2_TYPES,
    _Accountant,
    _finish_frame,
    row_emission,
)
from coreduce.account.sinks import year_fraction
from coreduce.errors import FactorError, InputError
from coreduce.units import dimension

#: Columns the activity × factor join matches on (``region`` as written in the activity; its code is resolved).
JOIN_KEYS = ["activity_type", "unit", "sector", "region", "year", "energy_basis", "control"] + [
    f"_has_{p}" for p in _PROPS
]
#: Activity columns the expansion reads (shipped to the engine when the activity is a frame).
ACTIVITY_COLUMNS = ["entity", "sector", "region", "period_start", "period_end", "activity_type", "amount", "unit",
                    "control", "energy_basis", *_PROPS]  # fmt: skip
_FACTOR_SCHEMA = {"region_code": "string", "scope": "string", "pollutant": "string", "mult": "float64",
                  "per_year": "boolean", "scale": "string", "method": "string", "factor_source": "string",
                  "factor_set": "string", "factor_value": "float64", "factor_unit": "string",
                  "removal_efficiency": "float64"}  # fmt: skip
_KEY_SCHEMA = {"activity_type": "string", "unit": "string", "sector": "string", "region": "string", "year": "int64",
               "energy_basis": "string", "control": "string", **{f"_has_{p}": "boolean" for p in _PROPS}}  # fmt: skip
_SORT = ["entity", "sector", "period_start", "activity_type", "pollutant", "period_end", "method"]


@dataclass
class InventoryPlan:
    """An inventory as an Ibis expression, with what the resolution found.

    Attributes
    ----------
    expr : ibis.Table
        The inventory rows (:data:`coreduce.account.inventory.INVENTORY_COLUMNS` + ``factor_set, factor_value,
        factor_unit, removal_efficiency``), unsorted; lazy, runs on the activity's engine.
    factors : pandas.DataFrame
        The per-key factor table the expression joins to (one row per key × pollutant).
    gaps : pandas.DataFrame
        Factor gaps (as ``compute_inventory(...).attrs["gaps"]``).
    factor_version : str
        The library version written in every row.
    """

    expr: ir.Table
    factors: pd.DataFrame
    gaps: pd.DataFrame
    factor_version: str
    source: str = "<activity>"


def keyed(activity: ir.Table) -> ir.Table:
    """The activity with its join-key columns normalised as the in-process engine does (region ``*`` and control
    ``""`` where missing, energy basis lower case and ``net`` where missing, the UTC year of ``period_start``,
    ``_has_<property>`` for the fuel properties given)."""
    t = activity
    return t.mutate(
        region=t.region.fill_null(schema.spec("activity").column("region").default or "*"),
        control=t.control.fill_null(""),
        energy_basis=t.energy_basis.fill_null("net").lower(),
        year=t.period_start.year().cast("int64"),
        **{f"_has_{p}": t[p].notnull() for p in _PROPS},
    )


def distinct_keys(activity: ir.Table, con: Any | None = None) -> pd.DataFrame:
    """The distinct join keys of the activity with ``rows``, ``_line`` (first input line, or null for a table
    without ``_line``) and ``_amax`` (largest amount), computed by the activity's engine."""
    t = keyed(activity)
    aggs: dict[str, Any] = {"rows": t.count(), "_amax": t.amount.max()}
    if "_line" in t.columns:
        aggs["_line"] = t._line.min()
    for p in _PROPS:
        aggs[f"_max_{p}"] = t[p].max()
    keys = _execute(t.group_by(JOIN_KEYS).aggregate(**aggs), con)
    if "_line" not in keys.columns:
        keys["_line"] = pd.NA
    keys["year"] = keys["year"].astype("int64")
    for c in (f"_has_{p}" for p in _PROPS):
        keys[c] = keys[c].astype(bool)
    return keys.sort_values([*JOIN_KEYS], kind="stable").reset_index(drop=True)


def plan_inventory(activity: ir.Table, acc: _Accountant, con: Any | None = None) -> InventoryPlan:
    """Resolve the activity's distinct keys with ``acc`` and build the expansion expression (see the module doc);
    ``con``: the engine that runs the queries (default: the activity's own)."""
    keys = distinct_keys(activity, con)
    raw = keys.copy()
    if raw.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in [*JOIN_KEYS, *_FACTOR_SCHEMA]})
        return InventoryPlan(_expand(activity, _factor_table(empty), None, acc.version, set()), empty, acc.gaps(),
                             acc.version, acc.source)  # fmt: skip
    _check_basis(raw, acc.source)
    raw["region_code"] = raw["region"].map(_region_codes(raw, acc))
    raw["_class"] = _classes(raw, acc)
    # the engine's keys are on region *codes*: spellings of one region share a key (and its resolution)
    code_keys = raw.assign(region=raw["region_code"])
    grouped = code_keys.groupby(_KEY, sort=True, dropna=False)
    kid = grouped.ngroup().to_numpy("int64")
    ckeys = grouped.agg(_line=("_line", "min"), rows=("rows", "sum")).reset_index()
    ckeys["_kid"] = np.arange(len(ckeys), dtype="int64")
    res = acc.resolve_keys(ckeys)
    _check_overflow(raw, kid, res, acc)
    table = raw[[*JOIN_KEYS, "region_code"]].assign(_kid=kid).merge(res, on="_kid", how="inner")
    table = table[[*JOIN_KEYS, *_FACTOR_SCHEMA]].reset_index(drop=True)
    years = _sink_years(activity, ckeys, con) if (ckeys["_class"] == "sink").any() else None
    scales = set(table["scale"]) - {""}
    return InventoryPlan(_expand(activity, _factor_table(table), years, acc.version, scales), table, acc.gaps(),
                         acc.version, acc.source)  # fmt: skip


def inventory_frame(plan: InventoryPlan, con: Any | None = None) -> pd.DataFrame:
    """Run the plan's expression (on ``con``, else the activity's own engine) and return the inventory frame,
    sorted as :func:`coreduce.account.compute_inventory` sorts it (here in pandas, so every engine gives the same
    order whatever its collation), with ``attrs["gaps"]`` and ``attrs["factor_version"]``."""
    out = _execute(plan.expr, con)
    out = out.sort_values(_SORT, kind="stable").reset_index(drop=True)
    bad = ~np.isfinite(out["amount"].to_numpy("float64"))
    if bad.any():  # the per-key bound passed but a row overflowed (e.g. a sink over many years)
        r = out[bad].iloc[0]
        raise InputError(plan.source, f"an amount whose emissions fit in a float64 in t (overflows for "
                         f"{r['activity_type']} of {r['entity']}, {r['period_start']})", column="amount",
                         table="activity")  # fmt: skip
    out = _finish_frame(out)
    for c in ("entity", "sector", "region", "activity_type", "scope", "pollutant", "unit", "method",
              "factor_source", "factor_version", "factor_set", "factor_unit"):  # fmt: skip
        out[c] = out[c].astype(object)
    out.attrs["gaps"] = plan.gaps
    out.attrs["factor_version"] = plan.factor_version
    return out


def activity_table(act: pd.DataFrame) -> ir.Table:
    """A validated activity frame as an in-memory Ibis table of the columns the expansion reads (typed from the
    canonical schema, so an all-empty column is still a string or float column), with ``_line`` = input line."""
    sp = schema.spec("activity")
    types = {"string": "string", "float": "float64", "timestamp": "timestamp('UTC')"}
    cols: dict[str, Any] = {}
    for c in ACTIVITY_COLUMNS:
        kind = sp.column(c).type
        if c in act.columns:
            s = act[c]
        else:
            s = pd.Series(sp.column(c).default or None, index=act.index, dtype=object)
        if kind == "timestamp":
            cols[c] = pd.to_datetime(s, utc=True)
        elif kind == "float":
            cols[c] = pd.to_numeric(s).astype("float64")
        else:
            cols[c] = s.astype(object).where(s.notna(), None)
    cols["_line"] = np.arange(len(act), dtype="int64") + 2
    frame = pd.DataFrame(cols)
    sch = {c: types[sp.column(c).type] for c in ACTIVITY_COLUMNS} | {"_line": "int64"}
    return ibis.memtable(frame, schema=sch)


# ---------------------------------------------------------------------------------------------- the expression
def _factor_table(table: pd.DataFrame) -> ir.Table:
    frame = table.copy()
    for c, kind in {**_KEY_SCHEMA, **_FACTOR_SCHEMA}.items():
        if kind == "float64":
            frame[c] = frame[c].astype("float64")
        elif kind == "boolean":
            frame[c] = frame[c].astype(bool)
        elif kind == "int64":
            frame[c] = frame[c].astype("int64")
        else:
            frame[c] = frame[c].astype(object)
    return ibis.memtable(frame, schema={**_KEY_SCHEMA, **_FACTOR_SCHEMA})


def _expand(activity: ir.Table, factors: ir.Table, years: ir.Table | None, version: str, scales: set) -> ir.Table:
    """Activity rows ⋈ per-key factor table → inventory rows; the arithmetic of the in-process engine."""
    a = keyed(activity)
    j = a.join(factors, JOIN_KEYS, how="inner")
    if years is not None:
        j = j.left_join(years, ["period_start", "period_end"])
        j = j.select(*[c for c in j.columns if not c.endswith("_right")])
    amount = row_emission(
        j.amount,
        j.mult,
        years=(j.per_year, j._years.fill_null(1.0)) if years is not None else None,
        scaled={p: (j.scale == p, j[p]) for p in _PROPS if p in scales},
        where=lambda cond, a, b: cond.ifelse(a, ibis.literal(b) if isinstance(b, float) else b),
    )
    cols = {
        "entity": j.entity, "sector": j.sector, "region": j.region_code, "period_start": j.period_start,
        "period_end": j.period_end, "activity_type": j.activity_type, "scope": j.scope, "pollutant": j.pollutant,
        "amount": amount, "unit": ibis.literal("t"), "method": j.method, "factor_source": j.factor_source,
        "factor_version": ibis.literal(version), "factor_set": j.factor_set, "factor_value": j.factor_value,
        "factor_unit": j.factor_unit, "removal_efficiency": j.removal_efficiency,
    }  # fmt: skip
    assert list(cols) == INVENTORY_COLUMNS + DETAIL_COLUMNS
    return j.select(**cols)


def _execute(expr: ir.Expr, con: Any | None = None) -> pd.DataFrame:
    if con is None:
        return expr.execute()
    return con.execute(expr)


# ---------------------------------------------------------------------------------------------- small, per key
def _where(keys: pd.DataFrame, mask: pd.Series | np.ndarray) -> dict[str, Any]:
    """Where an error points: the first input line of the keys in ``mask``, or the key when there is no line."""
    sub = keys[np.asarray(mask, dtype=bool)]
    lines = pd.to_numeric(sub["_line"], errors="coerce")
    if lines.notna().any():
        return {"row": int(lines.min())}
    return {}


def _check_basis(keys: pd.DataFrame, source: str) -> None:
    bad = ~keys["energy_basis"].isin(ENERGY_BASES)
    if bad.any():
        value = keys.loc[bad, "energy_basis"].iloc[0]
        raise InputError(source, "net or gross (energy basis of the amount)", column="energy_basis", value=value,
                         table="activity", **_where(keys, keys["energy_basis"] == value))  # fmt: skip


def _region_codes(keys: pd.DataFrame, acc: _Accountant) -> dict[str, str]:
    codes = {}
    for r in pd.unique(keys["region"]):
        try:
            codes[r] = acc.lib.resolve_region(r)
        except FactorError as exc:
            raise InputError(acc.source, f"a known region ({exc})", column="region", value=r, table="activity",
                             **_where(keys, keys["region"] == r)) from None  # fmt: skip
    return codes


def _classes(keys: pd.DataFrame, acc: _Accountant) -> np.ndarray:
    """``direct``, ``scope2`` or ``sink`` per key (as the in-process engine classifies rows)."""
    dims = keys["unit"].map({u: dimension(u) for u in pd.unique(keys["unit"])})
    lands = set(acc.lib.sink_rates["land_type"])
    is_sink = (dims == "area") & keys["activity_type"].isin(lands)
    is_s2 = keys["activity_type"].isin(list(SCOPE2_TYPES)) & ~is_sink
    return np.where(is_sink, "sink", np.where(is_s2, "scope2", "direct"))


def _sink_years(activity: ir.Table, ckeys: pd.DataFrame, con: Any | None) -> ir.Table:
    """Year fractions of the distinct periods of sink rows (area × rate × years), as a small table."""
    sink = ckeys.loc[ckeys["_class"] == "sink", ["activity_type", "unit"]].drop_duplicates()
    t = activity
    cond = None
    for at, u in sink.itertuples(index=False):
        c = (t.activity_type == at) & (t.unit == u)
        cond = c if cond is None else cond | c
    periods = _execute(t.filter(cond).select("period_start", "period_end").distinct(), con)
    start = pd.to_datetime(periods["period_start"], utc=True)
    end = pd.to_datetime(periods["period_end"], utc=True)
    frame = pd.DataFrame({"period_start": start, "period_end": end, "_years": year_fraction(start, end)})
    return ibis.memtable(frame, schema={"period_start": "timestamp('UTC')", "period_end": "timestamp('UTC')",
                                        "_years": "float64"})  # fmt: skip


def _check_overflow(raw: pd.DataFrame, kid: np.ndarray, res: pd.DataFrame, acc: _Accountant) -> None:
    """An amount whose emission overflows float64 is an input error, found before the engine runs: the key's
    largest amount × its largest |multiplier| × its largest fuel property (a bound on every row of the key; a
    sink's years are checked on the result, :func:`inventory_frame`)."""
    if res.empty:
        return
    big = res.assign(_a=res["mult"].abs()).groupby("_kid")["_a"].max()
    per_key = np.zeros(int(kid.max()) + 1)
    per_key[big.index.to_numpy()] = big.to_numpy()
    props = np.column_stack([pd.to_numeric(raw[f"_max_{p}"], errors="coerce").to_numpy("float64") for p in _PROPS])
    props = np.nan_to_num(props, nan=1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        e = raw["_amax"].to_numpy("float64") * per_key[kid] * np.maximum(props.max(axis=1), 1.0)
    bad = ~np.isfinite(e)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        r = raw.iloc[i]
        raise InputError(
            acc.source,
            f"an amount whose emissions fit in a float64 in t (amount × factor overflows for {r['activity_type']} "
            f"in {r['unit']})",
            column="amount",
            value=float(r["_amax"]),
            table="activity",
            **_where(raw, np.arange(len(raw)) == i),
        )


def compute_in_engine(activity, factors, *, gwp, electricity, pollutants, source, validated, on) -> pd.DataFrame:
    """:func:`coreduce.account.compute_inventory` with the activity × factor join as one Ibis expression run by an
    engine (a table's own, or ``on``: a Store or an Ibis backend)."""
    import ibis.expr.types as ir

    if isinstance(activity, ir.Table):
        table, src = activity, source or "<activity table>"
    else:
        src = source or (str(activity) if not isinstance(activity, pd.DataFrame) else "<DataFrame>")
        if isinstance(activity, pd.DataFrame):
            act = activity if validated else schema.validate(activity, "activity", source=src, row_offset=2)
        else:
            from coreduce.ingest.files import read_table

            act = read_table(activity, "activity", source=src)
        table = activity_table(act)
    acc = _Accountant(factors, gwp=gwp, electricity=electricity, pollutants=pollutants, source=src)
    from coreduce.store import Store

    con = on.con if isinstance(on, Store) else on  # a Store or an Ibis backend (None: the table's own)
    plan = None
    try:
        plan = plan_inventory(table, acc, con)
        return inventory_frame(plan, con)
    finally:  # the activity (when shipped), factor and period tables: nothing left in the engine
        from coreduce.store import release_in_memory_tables

        engine = con if con is not None else table._find_backend(use_default=True)
        for expr in (table, plan.expr if plan is not None else None):
            if expr is not None:
                release_in_memory_tables(expr, engine)

"""Aggregation by entity, sector, region and period — one Ibis expression, run by the backend.

The same expression runs on an in-memory DuckDB (for DataFrames), on the workspace store (DuckDB file or
PostgreSQL) and, through Ibis, on PySpark.  Periods are truncated in UTC (the store pins the session time
zone to UTC); pass ``tz`` to aggregate by local calendar days (e.g. ``"Asia/Shanghai"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from coreduce.errors import CoreduceError

Freq = Literal["hour", "day", "month", "year"]
_UNITS = {"hour": "h", "day": "D", "month": "M", "year": "Y"}
_STATS = ("sum", "mean", "min", "max", "count")


def _as_table(data: pd.DataFrame | ir.Table) -> tuple[ir.Table, bool]:
    if isinstance(data, ir.Table):
        return data, False
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    return con.create_table("_coreduce_input", data, temp=True), True


def _period(col: ir.TimestampValue, freq: Freq | None, tz: str | None) -> ir.TimestampValue:
    if freq is None:
        return col
    if freq not in _UNITS:
        raise CoreduceError(f"unknown freq {freq!r}; expected one of {', '.join(_UNITS)}")
    if tz is not None:
        local = col.cast(ibis.dtype(f"timestamp('{tz}')")).cast("timestamp")
        return local.truncate(_UNITS[freq])
    return col.truncate(_UNITS[freq])


def aggregate(
    inventory: pd.DataFrame | ir.Table,
    by: Sequence[str] = ("entity", "sector"),
    freq: Freq | None = "year",
    *,
    pollutants: Sequence[str] | None = None,
    tz: str | None = None,
    execute: bool = True,
) -> pd.DataFrame | ir.Table:
    """Total emissions by ``by`` × period × pollutant.

    Parameters
    ----------
    inventory : pandas.DataFrame or ibis.Table
        Canonical inventory rows (amount in [t]); an Ibis table from :meth:`coreduce.store.Store.table`
        is aggregated inside the database.
    by : sequence of str
        Grouping columns, any of ``entity, sector, region, activity_type, scope``.
    freq : {"hour", "day", "month", "year"} or None
        Period of ``period_start`` to group on (None: no time grouping). Aggregation never downscales:
        an annual row stays in its year.
    pollutants : sequence of str, optional
        Keep only these pollutants.
    tz : str, optional
        IANA time zone of the calendar used for the periods (default UTC).
    execute : bool
        Return a DataFrame (default) or the lazy Ibis expression.

    Returns
    -------
    pandas.DataFrame
        ``*by, period, pollutant, amount, unit`` sorted by those keys; ``amount`` [t].
    """
    t, _ = _as_table(inventory)
    if pollutants is not None:
        t = t.filter(t.pollutant.isin(list(pollutants)))
    keys = [t[c] for c in by]
    if freq is not None:
        keys.append(_period(t.period_start, freq, tz).name("period"))
    keys += [t.pollutant, t.unit]
    expr = t.group_by(keys).aggregate(amount=t.amount.sum())
    order = [*by, *(["period"] if freq is not None else []), "pollutant"]
    expr = expr.order_by(order).select(*order, "amount", "unit")
    return _to_frame(expr, tz) if execute else expr


def aggregate_observations(
    observations: pd.DataFrame | ir.Table,
    freq: Freq = "day",
    *,
    by: Sequence[str] = ("site_id", "variable"),
    stats: Sequence[str] = ("sum", "mean", "count"),
    tz: str | None = None,
    quality: Sequence[str] | None = ("ok",),
    execute: bool = True,
) -> pd.DataFrame | ir.Table:
    """Aggregate readings (e.g. hourly CEMS emission rates) to ``by`` × period.

    Parameters
    ----------
    observations : pandas.DataFrame or ibis.Table
        Canonical ``observations`` (``site_id, ts, variable, value, unit, quality``).
    freq : {"hour", "day", "month", "year"}
        Period of ``ts``.
    by : sequence of str
        Grouping columns besides the period (default site × variable).
    stats : sequence of {"sum", "mean", "min", "max", "count"}
        Statistics of ``value`` to return (column names ``value_<stat>``; ``n`` for count).
    tz : str, optional
        Calendar time zone (default UTC).
    quality : sequence of str or None
        Keep only readings with these quality flags (None: all).

    Returns
    -------
    pandas.DataFrame
        ``*by, period, unit, value_sum, value_mean, n`` (as requested), sorted by keys.
    """
    t, _ = _as_table(observations)
    bad = [s for s in stats if s not in _STATS]
    if bad:
        raise CoreduceError(f"unknown statistic {bad[0]!r}; expected some of {', '.join(_STATS)}")
    if quality is not None and "quality" in t.columns:
        t = t.filter(t.quality.isin(list(quality)))
    v = t.value
    metrics = {("n" if s == "count" else f"value_{s}"): getattr(v, s)() for s in stats}
    keys = [*[t[c] for c in by], _period(t.ts, freq, tz).name("period")]
    if "unit" in t.columns:
        keys.append(t.unit)
    expr = t.group_by(keys).aggregate(**metrics)
    return _to_frame(expr.order_by([*by, "period"]), tz) if execute else expr


def _to_frame(expr: ir.Table, tz: str | None = None) -> pd.DataFrame:
    """Execute; periods come back as timezone-aware timestamps in UTC (or in ``tz`` when given)."""
    df = expr.to_pandas()
    if "period" in df.columns:
        p = df["period"]
        if isinstance(p.dtype, pd.DatetimeTZDtype):
            df["period"] = p.dt.tz_convert(tz or "UTC")
        elif pd.api.types.is_datetime64_dtype(p.dtype):
            df["period"] = p.dt.tz_localize(tz or "UTC")
    return df

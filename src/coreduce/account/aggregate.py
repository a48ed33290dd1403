"""Aggregation by entity, sector, region and period — one Ibis expression, run by the backend.

The same expression runs on an in-memory DuckDB (for DataFrames), on the workspace store (DuckDB file or
PostgreSQL) and, through Ibis, on PySpark.  Periods are truncated in UTC (the store pins the session time
zone to UTC); pass ``tz`` to aggregate by local calendar days (e.g. ``"Asia/Shanghai"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import ibis
import ibis.expr.datatypes as dt
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
    if data.attrs:  # e.g. an inventory's gap table: not data, and Ibis would warn that it cannot serialise it
        data = data.copy(deep=False)
        data.attrs = {}
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


@ibis.udf.scalar.builtin(name="epoch_us")
def _epoch_us(a: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's ``epoch_us``: microseconds since 1970-01-01 UTC, plain integer arithmetic."""


@ibis.udf.scalar.builtin(name="divide")
def _idiv(a: dt.int64, b: dt.int64) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's integer division ``divide(a, b)`` (floor for non-negative ``a``)."""


_BUCKET_US = {"hour": 3_600_000_000, "day": 86_400_000_000}
_QUARTER_HOUR_US = 900_000_000  # every real UTC offset is a multiple of 15 min (Nepal +5:45)


def _backend_name(t: ir.Table) -> str:
    try:
        return t._find_backend().name
    except Exception:  # unbound memtable
        return "duckdb"


def aggregate_observations(
    observations: pd.DataFrame | ir.Table,
    freq: Freq = "day",
    *,
    by: Sequence[str] = ("site_id", "variable"),
    stats: Sequence[str] = ("sum", "mean", "count"),
    tz: str | None = None,
    quality: Sequence[str] | None = ("ok",),
    sort: bool = True,
) -> pd.DataFrame:
    """Aggregate readings (e.g. hourly CEMS emission rates) to ``by`` × period.

    Two stages: the database groups the raw readings by ``by`` × an integer time bucket (hour or day in
    UTC — plain integer arithmetic on the epoch, which avoids DuckDB's per-row ICU calendar work on
    TIMESTAMPTZ; 15-minute buckets when ``tz`` is given), then the small intermediate is rolled up to
    calendar periods (month, year, local days) with exact sum/count/min/max and ``mean = sum / count``.
    On PostgreSQL the first stage uses ``date_trunc`` to the UTC hour, or 15-minute epoch buckets when ``tz``
    is given (an hour bucket would straddle local midnight in a +05:30 or +05:45 zone).

    Parameters
    ----------
    observations : pandas.DataFrame or ibis.Table
        Canonical ``observations`` (``site_id, ts, variable, value, unit, quality``).
    freq : {"hour", "day", "month", "year"}
        Period of ``ts``.
    by : sequence of str
        Grouping columns besides the period (default site × variable).
    stats : sequence of {"sum", "mean", "min", "max", "count"}
        Statistics of ``value`` to return (columns ``value_<stat>``; ``n`` for count).
    tz : str, optional
        IANA time zone of the calendar (default UTC), e.g. ``"Asia/Shanghai"`` for local days.
    quality : sequence of str or None
        Keep only readings with these quality flags (None: all).
    sort : bool
        Sort the result by ``*by, period`` (default). ``False`` skips the sort for speed.

    Returns
    -------
    pandas.DataFrame
        ``*by, period, [unit,] value_sum, value_mean, n`` (as requested), sorted by ``*by, period``;
        ``period`` is timezone-aware (UTC, or ``tz``).
    """
    t, _ = _as_table(observations)
    bad = [s for s in stats if s not in _STATS]
    if bad:
        raise CoreduceError(f"unknown statistic {bad[0]!r}; expected some of {', '.join(_STATS)}")
    if freq not in _UNITS:
        raise CoreduceError(f"unknown freq {freq!r}; expected one of {', '.join(_UNITS)}")
    if quality is not None and "quality" in t.columns:
        t = t.filter(t.quality.isin(list(quality)))
    keys = [*by, *(["unit"] if "unit" in t.columns else [])]
    v = t.value
    parts = {"_sum": v.sum(), "_n": v.count(), "_min": v.min(), "_max": v.max()}
    parts = {k: e for k, e in parts.items() if k in _needed(stats)}
    duck = _backend_name(t) == "duckdb"
    final = duck and tz is None and freq in _BUCKET_US  # the buckets already are the periods
    if duck:
        width = _QUARTER_HOUR_US if tz is not None else _BUCKET_US.get(freq, _BUCKET_US["day"])
        bucket = _idiv(_epoch_us(t.ts), ibis.literal(width, type="int64")).name("_bucket")
        expr = t.group_by([*[t[c] for c in keys], bucket]).aggregate(**parts)
        if final and sort:  # sort inside the engine; no second stage
            expr = expr.order_by([*by, "_bucket"])
        stage1 = expr.to_pandas()
        stage1["period"] = pd.to_datetime(stage1.pop("_bucket") * (width // 1000), unit="ms", utc=True)
    elif tz is not None:
        # 15-minute buckets from the epoch: every real UTC offset is a whole number of quarter hours, so no
        # bucket straddles a local midnight (UTC hours do for Asia/Kolkata, +05:30, or Asia/Kathmandu, +05:45)
        width_s = _QUARTER_HOUR_US // 1_000_000
        bucket = (t.ts.epoch_seconds() // width_s).cast("int64").name("_bucket")
        stage1 = t.group_by([*[t[c] for c in keys], bucket]).aggregate(**parts).to_pandas()
        stage1["period"] = pd.to_datetime(stage1.pop("_bucket").astype("int64") * width_s, unit="s", utc=True)
    else:
        stage1 = t.group_by([*[t[c] for c in keys], t.ts.truncate("h").name("period")]).aggregate(**parts)
        stage1 = stage1.to_pandas()
        stage1["period"] = pd.to_datetime(stage1["period"], utc=True)
    if final:
        out = stage1
    else:
        if tz is not None:
            local = stage1["period"].dt.tz_convert(tz).dt.tz_localize(None)
            stage1["period"] = local.dt.to_period(_PANDAS_FREQ[freq]).dt.start_time.dt.tz_localize(tz)
        else:
            naive = stage1["period"].dt.tz_localize(None)
            stage1["period"] = naive.dt.to_period(_PANDAS_FREQ[freq]).dt.start_time.dt.tz_localize("UTC")
        agg = {"_sum": "sum", "_n": "sum", "_min": "min", "_max": "max"}
        out = stage1.groupby([*keys, "period"], sort=sort, observed=True).agg({k: agg[k] for k in parts}).reset_index()
    res = out[[*by, "period", *(["unit"] if "unit" in keys else [])]].copy()
    for s in stats:
        if s == "count":
            res["n"] = out["_n"].astype("int64")
        elif s == "mean":
            res["value_mean"] = out["_sum"] / out["_n"]
        else:
            res[f"value_{s}"] = out[f"_{s}"]
    if final or not sort:
        return res.reset_index(drop=True)
    return res.sort_values([*by, "period"], kind="stable").reset_index(drop=True)


_PANDAS_FREQ = {"hour": "h", "day": "D", "month": "M", "year": "Y"}


def _needed(stats: Sequence[str]) -> set[str]:
    need = set()
    for s in stats:
        need |= {"sum": {"_sum"}, "mean": {"_sum", "_n"}, "count": {"_n"}, "min": {"_min"}, "max": {"_max"}}[s]
    return need


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

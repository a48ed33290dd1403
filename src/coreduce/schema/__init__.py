"""Canonical tables: their specification (``tables.csv``) and validation on the way in.

The specification is data (one row per column: type, unit, required, default, key, description), in the
style of PyPSA's component attribute tables.  :func:`validate` turns any DataFrame into the canonical form
of one table or raises :class:`~coreduce.errors.InputError` naming the file, row, column, the value and
what was expected.  Validation never writes anything; the store only writes validated frames.

Conventions
-----------
- Timestamps are timezone-aware and stored in UTC.  ``observations.ts`` must carry an explicit offset
  (``2019-01-01T08:00:00+08:00`` or ``...Z``); period columns also accept plain dates (``2019-01-01``),
  read as 00:00 UTC.  A naive date-time with a clock time is rejected: its time zone is ambiguous.
- Masses and activities are non-negative; ``inventory.amount`` may be negative only for sinks.
- Mass concentrations in ``observations`` are converted to µg/m³ with pint; bounds per variable come
  from ``bounds.csv`` (each with its rationale).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np
import pandas as pd

from coreduce.errors import InputError, UnitError
from coreduce.units import conversion_factor, dimension, normalise_unit, split_rate, ureg

TableName = Literal["sites", "observations", "activity", "emission_factors", "inventory"]
TABLES: tuple[str, ...] = ("sites", "observations", "activity", "emission_factors", "inventory")

POLLUTANTS: tuple[str, ...] = ("CO2", "CH4", "N2O", "CO2e", "SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs")
SITE_KINDS: tuple[str, ...] = ("station", "facility", "plant", "meter", "region")
CONCENTRATION_UNIT = "ug/m^3"


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    type: str
    unit: str
    required: bool
    default: str | None
    key: bool
    description: str


@dataclass(frozen=True)
class TableSpec:
    """The specification of one canonical table."""

    name: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def keys(self) -> list[str]:
        return [c.name for c in self.columns if c.key]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@cache
def spec(table: str) -> TableSpec:
    """Return the :class:`TableSpec` of a canonical table (read from ``tables.csv``)."""
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}; canonical tables are {', '.join(TABLES)}")
    raw = pd.read_csv(resources.files("coreduce.schema").joinpath("tables.csv"), dtype=str, keep_default_na=False)
    rows = raw[raw["table"] == table]
    cols = tuple(
        Column(
            name=r.column,
            type=r.type,
            unit=r.unit,
            required=r.required == "yes",
            default=r.default if r.default != "" else None,
            key=r.key == "yes",
            description=r.description,
        )
        for r in rows.itertuples()
    )
    return TableSpec(table, cols)


@cache
def bounds() -> pd.DataFrame:
    """Plausibility bounds per observed variable (``bounds.csv``), indexed by variable."""
    b = pd.read_csv(resources.files("coreduce.schema").joinpath("bounds.csv"))
    return b.set_index("variable")


def _line(df: pd.DataFrame, pos: int, row_offset: int) -> int:
    return int(pos) + row_offset


def _first_bad(mask: np.ndarray | pd.Series) -> int | None:
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    return int(idx[0]) if idx.size else None


def _parse_timestamps(
    s: pd.Series, *, column: str, source: str, row_offset: int, table: str, allow_dates: bool
) -> pd.Series:
    """Parse a column to ``datetime64[ns, UTC]``; reject naive date-times and unparseable values."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        bad = _first_bad(s.notna() & (s != s.dt.normalize())) if allow_dates else _first_bad(s.notna())
        if bad is not None:
            raise InputError(
                source,
                "a timezone-aware timestamp (e.g. 2019-01-01T08:00:00+08:00 or ...Z)",
                row=_line(s, bad, row_offset),
                column=column,
                value=str(s.iloc[bad]),
                table=table,
            )
        return s.dt.tz_localize("UTC")
    text = s.astype("string").str.strip()
    has_offset = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True, na=False)
    is_date = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}", na=False)
    ok_form = has_offset | (is_date if allow_dates else False)
    bad = _first_bad(text.notna() & ~ok_form)
    if bad is not None:
        expected = (
            "an ISO date (2019-01-01) or a timezone-aware timestamp (2019-01-01T08:00:00+08:00)"
            if allow_dates
            else "a timezone-aware timestamp (e.g. 2019-01-01T08:00:00+08:00 or ...Z)"
        )
        raise InputError(
            source,
            expected,
            row=_line(s, bad, row_offset),
            column=column,
            value=str(text.iloc[bad]),
            table=table,
        )
    out = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = _first_bad(text.notna() & out.isna())
    if bad is not None:
        raise InputError(
            source,
            "a valid ISO 8601 date/time",
            row=_line(s, bad, row_offset),
            column=column,
            value=str(text.iloc[bad]),
            table=table,
        )
    return out.astype("datetime64[ns, UTC]")


def _parse_numbers(s: pd.Series, *, column: str, source: str, row_offset: int, table: str, kind: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        raise InputError(source, f"a number ({kind})", row=row_offset, column=column, value=str(s.iloc[0]), table=table)
    out = pd.to_numeric(s, errors="coerce")
    bad = _first_bad(s.notna() & out.isna())
    if bad is not None:
        raise InputError(
            source,
            f"a number ({kind})",
            row=_line(s, bad, row_offset),
            column=column,
            value=s.iloc[bad],
            table=table,
        )
    inf = _first_bad(np.isinf(out.to_numpy(dtype="float64", na_value=np.nan)))
    if inf is not None:
        raise InputError(
            source,
            "a finite number",
            row=_line(s, inf, row_offset),
            column=column,
            value=s.iloc[inf],
            table=table,
        )
    if kind == "integer":
        frac = _first_bad(out.notna() & (out != out.round()))
        if frac is not None:
            raise InputError(
                source,
                "an integer",
                row=_line(s, frac, row_offset),
                column=column,
                value=s.iloc[frac],
                table=table,
            )
        return out.astype("Int64")
    return out.astype("float64")


def _check_units(
    df: pd.DataFrame,
    column: str,
    *,
    source: str,
    row_offset: int,
    table: str,
    allowed: tuple[str, ...] | None = None,
    rate: bool = False,
) -> None:
    """Every distinct unit must parse (and be of an allowed dimension); errors name the first row."""
    for u in pd.unique(df[column]):
        try:
            if rate:
                split_rate(u)
                continue
            dim = dimension(u)
        except UnitError as exc:
            pos = _first_bad(df[column] == u)
            expected = (
                "a factor unit <mass>/<activity unit> such as kg/TJ or t/MWh"
                if rate
                else "a unit pint understands (t, kt, kg, MWh, GJ, TJ, m^3, ug/m^3, ...)"
            )
            raise InputError(
                source,
                f"{expected} ({exc})",
                row=_line(df, pos, row_offset),
                column=column,
                value=u,
                table=table,
            ) from None
        if allowed is not None and dim not in allowed:
            pos = _first_bad(df[column] == u)
            raise InputError(
                source,
                f"a unit of {' or '.join(allowed)} (this one is {dim})",
                row=_line(df, pos, row_offset),
                column=column,
                value=u,
                table=table,
            )


def _check_range(
    df: pd.DataFrame, column: str, mask: pd.Series, expected: str, *, source: str, row_offset: int, table: str
) -> None:
    bad = _first_bad(mask.fillna(False))
    if bad is not None:
        raise InputError(
            source,
            expected,
            row=_line(df, bad, row_offset),
            column=column,
            value=df[column].iloc[bad],
            table=table,
        )


ACTIVITY_DIMENSIONS = ("mass", "energy", "volume", "livestock", "area")


def validate(df: pd.DataFrame, table: str, *, source: str = "<DataFrame>", row_offset: int = 2) -> pd.DataFrame:
    """Validate ``df`` against canonical ``table`` and return it in canonical form.

    Parameters
    ----------
    df : pandas.DataFrame
        Input rows; extra columns are dropped, missing optional columns get their default.
    table : str
        One of :data:`TABLES`.
    source : str
        Name of the file the rows came from, used in error messages.
    row_offset : int
        Line number of the first data row in ``source`` (2 for a CSV with a header line).

    Returns
    -------
    pandas.DataFrame
        Columns in spec order, typed (strings, float64, Int64, ``datetime64[ns, UTC]``), mass
        concentrations in µg/m³.

    Raises
    ------
    InputError
        On the first problem found, naming file, row (line), column, value and what was expected.
    """
    ts = spec(table)
    if df is None or len(df.columns) == 0:
        raise InputError(source, f"a table with columns {', '.join(ts.names)}", table=table)
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c.name for c in ts.columns if c.required and c.name not in df.columns]
    if missing:
        raise InputError(
            source,
            f"required column(s) {', '.join(missing)} (found: {', '.join(df.columns)})",
            row=1,
            column=missing[0],
            table=table,
        )
    if len(df) == 0:
        raise InputError(source, "at least one data row", table=table)
    df = df.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    for col in ts.columns:
        if col.name in df.columns:
            s = df[col.name]
        else:
            s = pd.Series([col.default] * len(df), dtype="object")
        if col.type == "string":
            s = s.astype("string").str.strip()
            s = s.mask(s == "")
            if col.default is not None:
                s = s.fillna(col.default)
        elif col.type in ("float", "int"):
            if col.default is not None:
                s = s.where(s.notna(), col.default)
            s = _parse_numbers(
                s,
                column=col.name,
                source=source,
                row_offset=row_offset,
                table=table,
                kind="integer" if col.type == "int" else "float",
            )
        elif col.type == "timestamp":
            s = _parse_timestamps(
                s,
                column=col.name,
                source=source,
                row_offset=row_offset,
                table=table,
                allow_dates=(col.name != "ts"),
            )
        if col.required:
            bad = _first_bad(s.isna())
            if bad is not None:
                raise InputError(
                    source,
                    "a value (this column is required)",
                    row=_line(df, bad, row_offset),
                    column=col.name,
                    value=None,
                    table=table,
                )
        out[col.name] = s
    res = pd.DataFrame(out)
    _check_table(res, table, source=source, row_offset=row_offset)
    dup = res.duplicated(subset=ts.keys, keep="first")
    if dup.any():
        pos = _first_bad(dup)
        first = _first_bad((res[ts.keys] == res[ts.keys].iloc[pos]).all(axis=1))
        key = ", ".join(f"{k}={res[k].iloc[pos]}" for k in ts.keys)
        raise InputError(
            source,
            f"one row per key ({', '.join(ts.keys)}); same key as row {_line(res, first, row_offset)}",
            row=_line(res, pos, row_offset),
            column=ts.keys[0],
            value=key,
            table=table,
        )
    return res


def _check_table(res: pd.DataFrame, table: str, *, source: str, row_offset: int) -> None:
    kw = {"source": source, "row_offset": row_offset, "table": table}
    if table == "sites":
        _check_range(res, "kind", ~res["kind"].isin(SITE_KINDS), f"one of {', '.join(SITE_KINDS)}", **kw)
        _check_range(res, "lat", (res["lat"] < -90) | (res["lat"] > 90), "a latitude in [-90, 90]", **kw)
        _check_range(res, "lon", (res["lon"] < -180) | (res["lon"] > 180), "a longitude in [-180, 180]", **kw)
    elif table == "observations":
        _check_units(res, "unit", **kw)
        _check_observation_bounds(res, **kw)
        _convert_concentrations(res)
        _check_range(
            res,
            "quality",
            ~res["quality"].isin(["ok", "missing", "suspect", "invalid"]),
            "a quality flag: ok, missing, suspect or invalid",
            **kw,
        )
    elif table == "activity":
        _check_units(res, "unit", allowed=ACTIVITY_DIMENSIONS, **kw)
        _check_range(res, "amount", res["amount"] < 0, "a non-negative activity amount", **kw)
        _check_range(res, "period_end", res["period_end"] <= res["period_start"], "period_end after period_start", **kw)
    elif table == "emission_factors":
        _check_units(res, "unit", rate=True, **kw)
        _check_range(res, "value", res["value"] < 0, "a non-negative factor (sinks are given as rates)", **kw)
        _check_range(res, "pollutant", ~res["pollutant"].isin(POLLUTANTS), f"one of {', '.join(POLLUTANTS)}", **kw)
        _check_range(res, "year_to", res["year_to"] < res["year_from"], "year_to >= year_from", **kw)
    elif table == "inventory":
        _check_units(res, "unit", allowed=("mass",), **kw)
        _check_range(res, "pollutant", ~res["pollutant"].isin(POLLUTANTS), f"one of {', '.join(POLLUTANTS)}", **kw)
        _check_range(
            res,
            "amount",
            (res["amount"] < 0) & (res["scope"] != "sink"),
            "a non-negative emission (only scope 'sink' rows may be negative)",
            **kw,
        )
        _check_range(res, "period_end", res["period_end"] <= res["period_start"], "period_end after period_start", **kw)


def _convert_concentrations(res: pd.DataFrame) -> None:
    """Convert mass concentrations to µg/m³ in place (pint), one multiplier per distinct unit."""
    for u in pd.unique(res["unit"]):
        if dimension(u) == "mass/volume" and u != CONCENTRATION_UNIT:
            m = res["unit"] == u
            res.loc[m, "value"] = res.loc[m, "value"] * conversion_factor(u, CONCENTRATION_UNIT)
            res.loc[m, "unit"] = CONCENTRATION_UNIT


def _check_observation_bounds(res: pd.DataFrame, **kw) -> None:
    b = bounds()
    conc = res["unit"].map(lambda u: dimension(u) == "mass/volume")
    _check_range(res, "value", conc & (res["value"] < 0), "a non-negative concentration", **kw)
    for var in pd.unique(res["variable"]):
        if var not in b.index:
            continue
        lo, hi, unit = b.at[var, "min"], b.at[var, "max"], b.at[var, "unit"]
        m = res["variable"] == var
        for u in pd.unique(res.loc[m, "unit"]):
            mu = m & (res["unit"] == u)
            if dimension(u) != dimension(unit):
                pos = _first_bad(mu)
                raise InputError(
                    kw["source"],
                    f"a unit of {dimension(unit)} for {var}",
                    row=_line(res, pos, kw["row_offset"]),
                    column="unit",
                    value=u,
                    table=kw["table"],
                )
            # pint's Quantity handles offset units (degC <-> K) as well as plain scaling
            v = ureg.Quantity(res.loc[mu, "value"].to_numpy(), normalise_unit(u)).to(normalise_unit(unit)).magnitude
            badm = pd.Series(False, index=res.index)
            badm.loc[mu] = (v < lo) | (v > hi)
            _check_range(
                res,
                "value",
                badm,
                f"{var} within plausible bounds [{lo:g}, {hi:g}] {unit}, value read in {u} "
                "(see coreduce/schema/bounds.csv)",
                **kw,
            )


def empty(table: str) -> pd.DataFrame:
    """An empty canonical frame with the right columns and dtypes."""
    dtypes = {"string": "string", "float": "float64", "int": "Int64", "timestamp": "datetime64[ns, UTC]"}
    return pd.DataFrame({c.name: pd.Series(dtype=dtypes[c.type]) for c in spec(table).columns})

"""Canonical tables: declared as data in ``tables.csv``; everything else derives from it.

``tables.csv`` has one row per column: ``table, column, type, unit, required, default, key, references,
description``.  A table is canonical iff it has rows there.  From it derive

- :data:`TABLES` (declaration order) and :func:`spec` (a :class:`TableSpec` per table);
- :func:`write_order` — tables ordered so that a table comes after every table its ``references`` name
  (``observations.site_id`` → ``sites.site_id``: sites are written first);
- the DDL (:func:`coreduce.store.ddl`), :func:`validate` and the documentation (:func:`tables_markdown`,
  committed as ``docs/tables.md``).

Adding a table is adding rows to ``tables.csv`` (plus, if it needs more than typing, required values and
unique keys, a per-table check registered with :func:`check`).  :func:`load_spec` reads another file instead
(tests, or a deployment's own tables: ``COREDUCE_TABLES=/path/tables.csv``).

Types: ``string``, ``float``, ``int``, ``timestamp`` (UTC, timezone-aware), ``bool``, ``json`` (text holding
JSON; checked to parse).  Key columns must always have a value; together they are unique per table.

Validation (:func:`validate`, and the store's ingest) is columnar SQL in DuckDB (see
:mod:`coreduce.schema.engine`) and reports *every* problem (the first 50 listed) as
:class:`~coreduce.errors.InputErrors`, each naming file, row (line of the file), column, value and expectation.

Conventions
-----------
- Timestamps are timezone-aware and stored in UTC.  They must carry an explicit offset
  (``2019-01-01T08:00:00+08:00`` or ``...Z``) or be a plain date (``2019-01-01``, read as 00:00 UTC);
  ``observations.ts`` must carry a clock time and offset.  A naive date-time is rejected (its zone is
  ambiguous); times outside 1677-09-22 … 2262-04-11 are rejected as out of the supported range.
- Masses and activities are non-negative; ``inventory.amount`` may be negative only for sinks.
- Observations: the unit must parse (pint); mass concentrations must be non-negative and are converted to
  µg/m³; variables listed in ``bounds.csv`` must be within their plausible bounds in a unit of the right
  dimension.  A variable *not* in ``bounds.csv`` is accepted with the unit check only (no range check: there
  is no published range to hold it to) — monitoring streams carry variables (loads, flows, O2 %) that no
  fixed list anticipates.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from coreduce.errors import InputError, InputErrors, UnknownTableError
from coreduce.schema import engine
from coreduce.schema.engine import Checks, RowLocator, Rule

TYPES: tuple[str, ...] = ("string", "float", "int", "timestamp", "bool", "json")
SPEC_COLUMNS = ("table", "column", "type", "unit", "required", "default", "key", "references", "description")

POLLUTANTS: tuple[str, ...] = ("CO2", "CH4", "N2O", "CO2e", "SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs")
SITE_KINDS: tuple[str, ...] = ("station", "facility", "plant", "meter", "region")
CONCENTRATION_UNIT = "ug/m^3"
ACTIVITY_DIMENSIONS = ("mass", "energy", "volume", "livestock", "area")

#: A table name (any table declared in ``tables.csv``).
TableName = str

#: Tables only :mod:`coreduce.ledger` writes (append-only, hash-chained): ingest refuses them.
LEDGER_TABLES: tuple[str, ...] = ("ledger", "claims")


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
    references: str | None = None  # "table.column"


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

    @property
    def references(self) -> dict[str, str]:
        """Column → ``table.column`` it refers to."""
        return {c.name: c.references for c in self.columns if c.references}

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


_SPECS: dict[str, TableSpec] = {}
_SPEC_SOURCE: str = ""
TABLES: tuple[str, ...] = ()
_CHECKS: dict[str, list[Callable[[Checks], None]]] = {}


def _default_spec_path() -> Path | object:
    env = os.environ.get("COREDUCE_TABLES")
    return Path(env) if env else resources.files("coreduce.schema").joinpath("tables.csv")


def load_spec(path: str | Path | None = None) -> tuple[str, ...]:
    """(Re)load the table declarations from ``path`` (default: ``$COREDUCE_TABLES`` or the package's).

    Returns the table names and sets :data:`TABLES`.  The file itself is checked: known types, yes/no flags,
    at least one key per table, ``references`` naming a declared column, no reference cycle.

    Raises
    ------
    InputError
        A malformed declaration, naming the row of ``tables.csv``.
    """
    global _SPECS, _SPEC_SOURCE, TABLES
    src = path if path is not None else _default_spec_path()
    name = str(src)
    raw = pd.read_csv(src, dtype=str, keep_default_na=False)  # type: ignore[arg-type]
    missing = [c for c in SPEC_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(name, f"columns {', '.join(SPEC_COLUMNS)}", row=1, column=missing[0])
    cols: dict[str, list[Column]] = {}
    for i, r in enumerate(raw.itertuples(index=False), start=2):
        rd = r._asdict()
        for flag in ("required", "key"):
            if rd[flag] not in ("yes", "no"):
                raise InputError(name, "yes or no", row=i, column=flag, value=rd[flag])
        if rd["type"] not in TYPES:
            raise InputError(name, f"a type: {', '.join(TYPES)}", row=i, column="type", value=rd["type"])
        if not rd["table"] or not rd["column"]:
            raise InputError(name, "a table and a column name", row=i, column="table")
        if any(c.name == rd["column"] for c in cols.get(rd["table"], [])):
            raise InputError(name, "each column declared once per table", row=i, column="column", value=rd["column"])
        cols.setdefault(rd["table"], []).append(
            Column(
                name=rd["column"],
                type=rd["type"],
                unit=rd["unit"],
                required=rd["required"] == "yes",
                default=rd["default"] if rd["default"] != "" else None,
                key=rd["key"] == "yes",
                description=rd["description"],
                references=rd["references"] or None,
            )
        )
    specs = {t: TableSpec(t, tuple(cs)) for t, cs in cols.items()}
    for t, sp in specs.items():
        if not sp.keys:
            raise InputError(name, f"at least one key column (key=yes) for table {t}", column="key", value=t)
        for c, ref in sp.references.items():
            rt, _, rc = ref.partition(".")
            if rt not in specs or rc not in specs[rt].names:
                raise InputError(name, "references as table.column of a declared column", column="references",
                                 value=f"{t}.{c} -> {ref}")  # fmt: skip
    _SPECS, _SPEC_SOURCE = specs, name
    TABLES = tuple(specs)
    _order.cache_clear()
    write_order()  # refuses cycles now rather than at the first ingest
    return TABLES


def spec(table: str) -> TableSpec:
    """Return the :class:`TableSpec` of a canonical table."""
    try:
        return _SPECS[table]
    except KeyError:
        raise UnknownTableError(f"unknown table {table!r}; canonical tables are {', '.join(TABLES)}") from None


@cache
def _order() -> tuple[str, ...]:
    deps = {t: {r.partition(".")[0] for r in _SPECS[t].references.values()} - {t} for t in TABLES}
    done: list[str] = []
    pending = list(TABLES)
    while pending:
        ready = [t for t in pending if deps[t] <= set(done)]
        if not ready:
            raise InputError(_SPEC_SOURCE, "references without a cycle", column="references", value=", ".join(pending))
        done += ready
        pending = [t for t in pending if t not in ready]
    return tuple(done)


def write_order(tables: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Tables in the order to write them: every table after the tables its ``references`` point to
    (declaration order among independent tables)."""
    order = _order()
    return [t for t in order if tables is None or t in tables]


# ---------------------------------------------------------------------------------------------- checks
def check(table: str) -> Callable[[Callable[[Checks], None]], Callable[[Checks], None]]:
    """Register a per-table check: ``fn(ctx: Checks)`` adding rules with ``ctx.rule(column, bad_sql, expected)``.

    Examples
    --------
    >>> @check("sites")                                                         # doctest: +SKIP
    ... def _lat(ctx):
    ...     ctx.rule("lat", "lat < -90 OR lat > 90", "a latitude in [-90, 90]")
    """

    def deco(fn: Callable[[Checks], None]) -> Callable[[Checks], None]:
        _CHECKS.setdefault(table, []).append(fn)
        return fn

    return deco


_NORMALISERS: dict[str, list[Callable[[], dict[str, str]]]] = {}


def normaliser(table: str) -> Callable[[Callable[[], dict[str, str]]], Callable[[], dict[str, str]]]:
    """Register ``fn() -> {column: sql}``: conversions that can be applied while rows are loaded, before any
    check (SQL over the typed columns; e.g. the common spellings of concentration units to ug/m^3).  The
    per-table checks must give the same result on rows so converted (they convert what is left)."""

    def deco(fn: Callable[[], dict[str, str]]) -> Callable[[], dict[str, str]]:
        _NORMALISERS.setdefault(table, []).append(fn)
        return fn

    return deco


def normalisers_for(table: str) -> dict[str, str]:
    """The load-time conversions of ``table`` (column → SQL)."""
    out: dict[str, str] = {}
    for fn in _NORMALISERS.get(table, []):
        out.update(fn())
    return out


def checks_for(table: str) -> list[Callable[[Checks], None]]:
    """The checks registered for ``table``."""
    return list(_CHECKS.get(table, []))


@cache
def bounds() -> pd.DataFrame:
    """Plausibility bounds per observed variable (``bounds.csv``), indexed by variable."""
    b = pd.read_csv(resources.files("coreduce.schema").joinpath("bounds.csv"))
    return b.set_index("variable")


# ---------------------------------------------------------------------------------------------- validate
def connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for validation: UTC, no extension download or auto-loading."""
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # DuckDB prints it to stdout for queries over 2 s
    return con


_LOCAL = threading.local()


def shared_connection() -> duckdb.DuckDBPyConnection:
    """This thread's validation connection (in-memory DuckDB, opened once per thread and process).

    Staging tables are dropped after each use; DuckDB spills to ``$TMPDIR`` beyond ``$COREDUCE_STAGE_MEMORY``
    (default 2GB), so memory stays bounded for large inputs.
    """
    con = getattr(_LOCAL, "con", None)
    if con is None or getattr(_LOCAL, "pid", None) != os.getpid():
        con = connect()
        tmp = Path(tempfile.gettempdir()) / f"coreduce-stage-{os.getpid()}"
        con.execute(f"SET temp_directory = {engine.lit(str(tmp))}")
        con.execute(f"SET memory_limit = {engine.lit(os.environ.get('COREDUCE_STAGE_MEMORY', '2GB'))}")
        _LOCAL.con, _LOCAL.pid = con, os.getpid()
    return con


def stage_frame(
    con: duckdb.DuckDBPyConnection,
    df: pd.DataFrame,
    table: str,
    *,
    source: str = "<DataFrame>",
    row_offset: int = 2,
    locator: RowLocator | None = None,
    validate: bool = True,
    extra_rules: tuple[Rule, ...] = (),
) -> engine.Staged:
    """Stage a DataFrame as ``table`` in DuckDB ``con`` and check it (see :func:`engine.stage`)."""
    sp = spec(table)
    if df is None or len(df.columns) == 0:
        raise InputErrors([InputError(source, f"a table with columns {', '.join(sp.names)}", table=table)])
    df = df.reset_index(drop=True)
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):  # DuckDB would rename; name the duplicate instead
        dup = next(n for n in names if names.count(n) > 1)
        raise InputErrors([InputError(source, "unique column names", row=1, column=dup, value=dup, table=table)])
    view = f"__coreduce_in_{id(df)}"
    for attempt in (1, 2):
        con.register(view, _scannable(df) if attempt == 1 else df)
        try:
            return engine.stage(
                con,
                engine.q(view),
                sp,
                source=source,
                locator=locator or RowLocator(df, row_offset),
                checks=checks_for(table) if validate else (),
                extra_rules=extra_rules,
                validate=validate,
            )
        except duckdb.Error:
            # DuckDB could not scan a column of mixed Python objects (numbers and text, say): read such
            # columns as text, as a CSV would give them, and stage again
            objects = [c for c in df.columns if df[c].dtype == object]
            if attempt == 2 or not objects:
                raise
            df = df.assign(**{str(c): df[c].astype("string") for c in objects})
        finally:
            con.unregister(view)
    raise AssertionError("unreachable")  # pragma: no cover


def _scannable(df: pd.DataFrame) -> Any:
    """``df`` as DuckDB scans it fastest: text columns of Python strings dictionary-encoded into an Arrow table
    (each distinct string converted once; DuckDB reads a pandas object column one Python object at a time, under
    the GIL, which made staging a million-row engine output slower than computing it). Values are unchanged; a
    frame Arrow cannot take (mixed objects) is returned as it is."""
    import pyarrow as pa

    try:
        cols = {}
        for c in df.columns:
            s = df[c]
            enc = _text_dictionary(s) if s.dtype == object else None
            cols[str(c)] = enc if enc is not None else pa.Array.from_pandas(s)
        return pa.table(cols)
    except (pa.ArrowException, TypeError, ValueError):
        return df


def _text_dictionary(s: pd.Series) -> Any:
    """An object column whose values are all text (or null) as an Arrow dictionary array, else None.

    The rows are grouped by *object identity* first (an integer hash of the pointers: an engine output shares a
    few string objects over millions of rows, and hashing pointers is several times cheaper than hashing and
    comparing strings), then the distinct objects by value, as ``pd.factorize`` of the column would (same codes,
    same dictionary in order of first appearance).
    """
    import ctypes

    import pyarrow as pa

    arr = np.ascontiguousarray(s.to_numpy(dtype=object))
    n = len(arr)
    if n == 0:
        return None
    # the PyObject pointers of the (C-contiguous) object array, read as integers while ``arr`` holds the objects
    ptrs = np.ctypeslib.as_array((ctypes.c_ssize_t * n).from_address(arr.ctypes.data))
    by_object, uniq = pd.factorize(ptrs)
    first = np.empty(len(uniq), dtype=np.int64)
    first[by_object[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)  # the first row holding each object
    by_value, values = pd.factorize(arr[first])  # nulls (None, NaN, NA) -> -1
    values = np.asarray(values, dtype=object)
    if len(values) == 0 or not all(isinstance(v, str) for v in values):
        return None  # all null, or some value is not text: Arrow converts the column as it is
    idx = by_value[by_object]
    text = pa.array(values, pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32), pa.int32(), mask=idx < 0), text)


def validate(
    df: pd.DataFrame,
    table: str,
    *,
    source: str = "<DataFrame>",
    row_offset: int = 2,
    locator: RowLocator | None = None,
) -> pd.DataFrame:
    """Validate ``df`` against canonical ``table`` and return it in canonical form.

    Parameters
    ----------
    df : pandas.DataFrame
        Input rows (strings or typed columns); extra columns are dropped, missing optional ones get their default.
    table : str
        One of :data:`TABLES`.
    source : str
        Name of the file the rows came from, used in error messages.
    row_offset : int
        Line number of the first data row in ``source`` (2 for a CSV with a header line).
    locator : RowLocator, optional
        Maps row positions to file lines (blank lines, quoted line breaks) — :func:`coreduce.ingest.files.read_raw`
        attaches one to the frames it reads (``df.attrs["locator"]``).

    Returns
    -------
    pandas.DataFrame
        Columns in spec order, typed (``string``, float64, Int64, ``datetime64[ns, UTC]``, ``boolean``), mass
        concentrations in µg/m³.

    Raises
    ------
    InputErrors
        Every problem found (first 50 listed): file, row (line), column, value and what was expected.
    """
    locator = locator or (df.attrs.get("locator") if df is not None else None)
    con = shared_connection()
    st = stage_frame(con, df, table, source=source, row_offset=row_offset, locator=locator)
    try:
        return engine.to_pandas(st.arrow(), spec(table))
    finally:
        st.drop()


def empty(table: str) -> pd.DataFrame:
    """An empty canonical frame with the right columns and dtypes."""
    dtypes = {"string": "string", "float": "float64", "int": "Int64", "timestamp": "datetime64[ns, UTC]",
              "bool": "boolean", "json": "string"}  # fmt: skip
    return pd.DataFrame({c.name: pd.Series(dtype=dtypes[c.type]) for c in spec(table).columns})


# ---------------------------------------------------------------------------------------------- docs
def tables_markdown() -> str:
    """``docs/tables.md``: every canonical table and column, generated from ``tables.csv``."""
    lines = [
        "# Canonical tables",
        "",
        "Generated from `src/coreduce/schema/tables.csv` by `coreduce.schema.tables_markdown()`; do not edit by "
        "hand (a test checks that this file is up to date).",
        "",
        "Types: `string`, `float`, `int`, `timestamp` (UTC, timezone-aware), `bool`, `json` (text holding JSON). "
        "Key columns together identify a row (re-ingesting the same key updates the row). Tables are written in "
        "the order below: a table comes after the tables it references.",
        "",
    ]
    for t in write_order():
        sp = spec(t)
        lines += [f"## `{t}`", "", f"Key: {', '.join(f'`{k}`' for k in sp.keys)}.", ""]
        if sp.references:
            refs = ", ".join(f"`{c}` → `{r}`" for c, r in sp.references.items())
            lines += [f"References: {refs}.", ""]
        lines += ["| column | type | unit | required | default | key | description |", "|---|---|---|---|---|---|---|"]
        for c in sp.columns:
            desc = c.description.replace("|", "\\|")
            lines.append(
                f"| `{c.name}` | {c.type} | {c.unit} | {'yes' if c.required else ''} | "
                f"{'`' + c.default + '`' if c.default is not None else ''} | {'yes' if c.key else ''} | {desc} |"
            )
        lines.append("")
    return "\n".join(lines)


load_spec()

from coreduce.schema import checks as _builtin_checks  # noqa: E402,F401  (registers the built-in checks)

"""The validation engine: canonical-table checks as SQL over a DuckDB staging table, all errors at once.

Rows are *staged*: one ``CREATE TEMP TABLE … AS SELECT`` turns the input (a registered DataFrame, a
``read_csv`` scan of a file, any DuckDB relation) into the table's typed columns (``TRY_CAST``, trimmed
strings, defaults) plus a few boolean flags that remember what the typing could not see (a value that did not
parse, a naive date-time, a date without a clock time).  Every check is then one SQL predicate over the staged
table (columnar, multi-threaded, no Python per row); one aggregate query counts the violations of all of
them, and only when something is wrong are the offending rows fetched — the first
:data:`coreduce.errors.InputErrors.LIMIT`, in input order.

The staged table's ``rowid`` is the input record's position (DuckDB keeps insertion order); a *locator*
(:class:`RowLocator`) turns it into the line of the file and the value as written.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from coreduce.errors import InputError, InputErrors

#: pandas ``datetime64[ns]`` is what every frame of coreduce carries; outside this window a time cannot be
#: represented (pandas.Timestamp.min / max, rounded inwards to whole days).
TIME_MIN, TIME_MAX = "1677-09-22", "2262-04-11"
DUCK_TYPES = {
    "string": "VARCHAR",
    "float": "DOUBLE",
    "int": "BIGINT",
    "timestamp": "TIMESTAMPTZ",
    "bool": "BOOLEAN",
    "json": "VARCHAR",
}
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def lit(value: Any) -> str:
    """A SQL literal for a str / int / float / bool / None."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def isin(column_sql: str, values: Iterable[Any]) -> str:
    """``column IN (…)`` for a list of literal values (``FALSE`` for an empty list)."""
    vals = list(values)
    return f"{column_sql} IN ({', '.join(lit(v) for v in vals)})" if vals else "FALSE"


@dataclass(frozen=True)
class Rule:
    """One check: rows where ``bad`` (SQL over the staged table) is true violate it.

    ``value`` is ``"raw"`` to show the value as written in the input (parse errors), or ``"typed"`` to show
    the typed value (range checks); ``value_sql`` overrides both.
    """

    column: str | None
    bad: str
    expected: str
    value: str = "typed"
    value_sql: str | None = None


class RowLocator:
    """Maps staged row positions (0-based, input order) to source lines and raw values.

    The default serves a DataFrame: line = position + ``row_offset``; raw value = the frame's cell.
    """

    def __init__(self, frame: pd.DataFrame | None = None, row_offset: int = 2) -> None:
        self.frame = frame
        self.row_offset = row_offset

    def lines(self, positions: Sequence[int]) -> dict[int, int]:
        return {int(p): int(p) + self.row_offset for p in positions}

    def raw(self, positions: Sequence[int], column: str) -> dict[int, Any]:
        if self.frame is None or column not in self.frame.columns:
            return {}
        s = self.frame[column]
        return {int(p): _plain(s.iloc[int(p)]) for p in positions}


def _plain(v: Any) -> Any:
    if v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, str):
        return v.item()
    return v


@dataclass
class Staged:
    """A validated (or failed) staging of one table's rows in a DuckDB connection."""

    con: Any
    name: str
    table: str
    rows: int
    output: list[str] = field(default_factory=list)  # SELECT list giving the canonical columns

    def select_sql(self, order: bool = True) -> str:
        return f"SELECT {', '.join(self.output)} FROM {q(self.name)}" + (" ORDER BY rowid" if order else "")

    def arrow(self) -> pa.Table:
        return self.con.execute(self.select_sql()).fetch_arrow_table()

    def drop(self) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {q(self.name)}")


class Checks:
    """What a per-table check (registered with :func:`coreduce.schema.check`) gets to work with.

    A check adds :class:`Rule` s (``rule``) and output transforms (``transform``); ``distinct`` reads the few
    distinct values of a column (units, variables) so that Python (pint) runs once per value, not per row.
    Column names in SQL come from ``col``; ``date_only`` is the flag "this timestamp was written as a bare date".
    """

    def __init__(self, con: Any, staged: str, spec: Any, columns_typed_from: dict[str, str]) -> None:
        self.con = con
        self.staged = staged
        self.spec = spec
        self.table = spec.name
        self.rules: list[Rule] = []
        self.transforms: dict[str, str] = {}
        self._typed_from = columns_typed_from

    @staticmethod
    def col(name: str) -> str:
        return q(name)

    def date_only(self, name: str) -> str:
        """SQL: the timestamp column ``name`` was written as a date without a clock time."""
        return q(f"__dateonly_{name}") if self._typed_from.get(name) == "text" else "FALSE"

    def rule(self, column: str | None, bad: str, expected: str, *, value: str = "typed") -> None:
        """Rows where SQL ``bad`` is true are errors in ``column`` (message: got <value>, expected ``expected``)."""
        self.rules.append(Rule(column, f"({bad})", expected, value))

    def distinct(self, *columns: str, where: str | None = None) -> list[tuple]:
        """Distinct non-null value combinations of ``columns`` in the staged rows."""
        cols = ", ".join(q(c) for c in columns)
        notnull = " AND ".join(f"{q(c)} IS NOT NULL" for c in columns)
        cond = f"{notnull} AND ({where})" if where else notnull
        return self.con.execute(f"SELECT DISTINCT {cols} FROM {q(self.staged)} WHERE {cond}").fetchall()

    def transform(self, column: str, sql: str) -> None:
        """Write ``sql`` (over the staged columns) instead of ``column`` (e.g. a unit conversion)."""
        self.transforms[column] = sql


def _text(x: str, intype: str) -> str:
    s = x if intype.startswith("VARCHAR") else f"CAST({x} AS VARCHAR)"
    return f"NULLIF(trim({s}, ' \t\r\n'), '')"


def _column_exprs(col: Any, x: str | None, intype: str) -> tuple[list[str], list[Rule], str]:
    """SELECT items for one canonical column, the rules tied to how it was typed, and how it was typed."""
    name, typ, default = col.name, col.type, col.default
    qn = q(name)
    sql_t = DUCK_TYPES[typ]
    dflt = f"CAST({lit(default)} AS {sql_t})" if default is not None else None
    needs_value = col.required or col.key
    required = Rule(name, f"{qn} IS NULL", "a value (this column is required)", "typed")
    if x is None:  # column absent: the default for every row
        expr = dflt or f"CAST(NULL AS {sql_t})"
        return [f"{expr} AS {qn}"], ([required] if needs_value and dflt is None else []), "absent"
    items: list[str] = []
    rules: list[Rule] = []
    how = "typed"
    if typ in ("string", "json"):
        t = _text(x, intype)
        items.append(f"{('COALESCE(' + t + ', ' + dflt + ')') if dflt else t} AS {qn}")
        rules.append(Rule(name, f"contains({qn}, chr(0))", "text without NUL bytes (\\x00)", "raw"))
        if typ == "json":
            rules.append(Rule(name, f"{qn} IS NOT NULL AND NOT json_valid({qn})", "valid JSON text", "raw"))
    elif typ == "float":
        if intype.split("(")[0] in _NUMERIC:
            base = f"CAST({x} AS DOUBLE)"
            items.append(f"{('COALESCE(' + base + ', ' + dflt + ')') if dflt else base} AS {qn}")
        else:
            how = "text"
            t = _text(x, intype)
            items.append(f"{t} IS NOT NULL AND TRY_CAST({t} AS DOUBLE) IS NULL AS {q('__bad_' + name)}")
            parsed = f"TRY_CAST({t} AS DOUBLE)"
            items.append(f"CASE WHEN {t} IS NULL THEN {dflt or 'NULL'} ELSE {parsed} END AS {qn}")
            rules.append(Rule(name, q("__bad_" + name), "a number (float)", "raw"))
        rules.append(Rule(name, f"NOT isfinite({qn})", "a finite number", "raw"))
    elif typ == "int":
        how = "text"
        t = _text(x, intype)
        d = f"TRY_CAST({t} AS DOUBLE)"
        bad = f"{t} IS NOT NULL AND ({d} IS NULL OR NOT isfinite({d}) OR {d} <> trunc({d}) OR abs({d}) > 9.0e15)"
        items.append(f"{bad} AS {q('__bad_' + name)}")
        typed = f"CASE WHEN {t} IS NULL THEN {dflt or 'NULL'} WHEN {bad} THEN NULL ELSE CAST({d} AS BIGINT) END"
        items.append(f"COALESCE(TRY_CAST({t} AS BIGINT), {typed}) AS {qn}")
        rules.append(Rule(name, q("__bad_" + name), "an integer", "raw"))
    elif typ == "bool":
        how = "text"
        lt = f"lower({_text(x, intype)})"
        typed = f"CASE WHEN {isin(lt, _TRUE)} THEN TRUE WHEN {isin(lt, _FALSE)} THEN FALSE END"
        items.append(f"{lt} IS NOT NULL AND {typed} IS NULL AS {q('__bad_' + name)}")
        items.append(f"CASE WHEN {lt} IS NULL THEN {dflt or 'NULL'} ELSE {typed} END AS {qn}")
        rules.append(Rule(name, q("__bad_" + name), "true or false (also yes/no, 1/0)", "raw"))
    elif typ == "timestamp":
        base = intype.split("(")[0]
        if base in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            items.append(f"{x} AS {qn}")
        elif base == "DATE":
            items.append(f"CAST({x} AS TIMESTAMPTZ) AS {qn}")
        elif base.startswith("TIMESTAMP"):  # naive date-times: only whole dates are unambiguous
            items.append(f"{x} IS NOT NULL AND CAST({x} AS TIMESTAMP) <> date_trunc('day', {x}) AS {q('__naive_' + name)}")
            items.append(f"CAST(CAST({x} AS TIMESTAMP) AS TIMESTAMPTZ) AS {qn}")
            rules.append(
                Rule(name, q("__naive_" + name),
                     "a timezone-aware timestamp (e.g. 2019-01-01T08:00:00+08:00 or ...Z)", "raw")  # fmt: skip
            )
        else:
            how = "text"
            t = _text(x, intype)
            offset = (
                f"(right({t}, 1) IN ('Z', 'z') OR substr({t}, -6, 1) IN ('+', '-') "
                f"OR substr({t}, -5, 1) IN ('+', '-') OR substr({t}, -3, 1) IN ('+', '-'))"
            )
            date_only = f"(length({t}) = 10 AND NOT {offset})"
            naive = f"({t} IS NOT NULL AND length({t}) > 10 AND NOT {offset})"
            parsed = f"TRY_CAST({t} AS TIMESTAMPTZ)"
            items.append(f"{naive} AS {q('__naive_' + name)}")
            items.append(f"COALESCE({date_only}, FALSE) AS {q('__dateonly_' + name)}")
            items.append(f"{t} IS NOT NULL AND NOT {naive} AND {parsed} IS NULL AS {q('__bad_' + name)}")
            items.append(f"CASE WHEN {t} IS NULL THEN {dflt or 'NULL'} WHEN {naive} THEN NULL ELSE {parsed} END AS {qn}")
            rules.append(
                Rule(name, q("__naive_" + name),
                     "a timezone-aware timestamp (e.g. 2019-01-01T08:00:00+08:00 or ...Z), not a naive date-time",
                     "raw")  # fmt: skip
            )
            rules.append(Rule(name, q("__bad_" + name), "a valid ISO 8601 date/time", "raw"))
        rules.append(
            Rule(name, f"{qn} < TIMESTAMPTZ '{TIME_MIN} 00:00:00+00' OR {qn} > TIMESTAMPTZ '{TIME_MAX} 00:00:00+00'",
                 f"a date/time between {TIME_MIN} and {TIME_MAX} (out of the supported range: coreduce keeps "
                 "times as pandas datetime64[ns])", "raw")  # fmt: skip
        )
    else:  # pragma: no cover - load_spec refuses unknown types
        raise ValueError(f"unknown column type {typ!r}")
    if needs_value:
        flags = [r.bad for r in rules if r.bad.startswith('"__')]
        cond = f"{qn} IS NULL" + "".join(f" AND NOT {f}" for f in flags)
        rules.insert(0, Rule(name, cond, "a value (this column is required)", "typed"))
    return items, rules, how


_SEQ = itertools.count()


def stage(
    con: Any,
    from_sql: str,
    spec: Any,
    *,
    source: str,
    locator: RowLocator | None = None,
    checks: Sequence[Callable[[Checks], None]] = (),
    extra_rules: Sequence[Rule] = (),
    validate: bool = True,
    name: str | None = None,
    after_load: Callable[[], None] | None = None,
) -> Staged:
    """Stage ``from_sql`` as canonical table ``spec`` in ``con`` and run every check.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Where to stage (the store's own connection, or an in-memory one).
    from_sql : str
        A relation: ``read_csv(…)``, a registered view name, ``(SELECT …)``.
    spec : coreduce.schema.TableSpec
        The canonical table.
    source : str
        File name for messages.
    locator : RowLocator, optional
        Position → (line, raw value); default: line = position + 2.
    checks : sequence of callables
        The table's registered checks (:func:`coreduce.schema.check`).
    extra_rules : sequence of Rule
        Backend limits (e.g. PostgreSQL's index-key size).
    validate : bool
        False: only type and de-duplicate-check rows (frames that are already canonical).
    name : str, optional
        Name of the staging table (default: a fresh one).
    after_load : callable, optional
        Called once the rows are staged, before any check (the CSV reader's rejected lines are raised there).

    Raises
    ------
    InputErrors
        Every problem found (the first 50 listed, in input order); the staging table is dropped.
    """
    locator = locator or RowLocator()
    name = name or f"__coreduce_stage_{next(_SEQ)}"
    desc = con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()
    intypes: dict[str, str] = {}
    inname: dict[str, str] = {}
    for row in desc:
        raw_name = str(row[0])
        key = raw_name.strip()
        if key in inname:
            raise InputErrors([InputError(source, "a header with unique column names", row=1, column=key,
                                          value=key, table=spec.name)])  # fmt: skip
        inname[key] = raw_name
        intypes[key] = str(row[1])
    missing = [c.name for c in spec.columns if c.required and c.name not in inname]
    if missing:
        raise InputErrors([InputError(source, f"required column(s) {', '.join(missing)} (found: "
                                      f"{', '.join(inname)})", row=1, column=missing[0], table=spec.name)])  # fmt: skip
    items: list[str] = []
    rules: list[Rule] = []
    how: dict[str, str] = {}
    for c in spec.columns:
        x = q(inname[c.name]) if c.name in inname else None
        it, rs, h = _column_exprs(c, x, intypes.get(c.name, ""))
        items += it
        rules += rs
        how[c.name] = h
    con.execute(f"CREATE OR REPLACE TEMP TABLE {q(name)} AS SELECT {', '.join(items)} FROM {from_sql}")
    try:
        if after_load is not None:
            after_load()
        n, base = con.execute(f"SELECT count(*), coalesce(min(rowid), 0) FROM {q(name)}").fetchone()
        n, base = int(n), int(base)  # rowids are contiguous in input order, from base (large inside a transaction)
        if n == 0:
            raise InputErrors([InputError(source, "at least one data row", table=spec.name)])
        ctx = Checks(con, name, spec, how)
        if validate:
            for fn in checks:
                fn(ctx)
            rules += ctx.rules
        rules += list(extra_rules)
        errors, count = _evaluate(con, name, spec, rules, source=source, locator=locator, base=base)
        if validate or not errors:
            d_err, d_count = _duplicates(con, name, spec, source=source, locator=locator, base=base)
            errors += d_err
            count += d_count
        if errors:
            errors.sort(key=lambda e: (e.row if e.row is not None else -1, _col_pos(spec, e.column)))
            raise InputErrors(errors, count)
        out = [f"{ctx.transforms.get(c.name, q(c.name))} AS {q(c.name)}" for c in spec.columns]
        return Staged(con, name, spec.name, n, out)
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {q(name)}")
        raise


def _col_pos(spec: Any, column: str | None) -> int:
    names = spec.names
    return names.index(column) if column in names else len(names)


def _evaluate(
    con: Any, name: str, spec: Any, rules: list[Rule], *, source: str, locator: RowLocator, base: int
) -> tuple[list[InputError], int]:
    if not rules:
        return [], 0
    counts = con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {r.bad})" for r in rules) + f" FROM {q(name)}"
    ).fetchone()
    found: list[tuple[int, Rule, Any]] = []
    total = 0
    limit = InputErrors.LIMIT
    for r, c in zip(rules, counts, strict=True):
        if not c:
            continue
        total += int(c)
        val = r.value_sql or (q(r.column) if r.column is not None else "NULL")
        rows = con.execute(
            f"SELECT rowid - {base}, {val} FROM {q(name)} WHERE {r.bad} ORDER BY rowid LIMIT {limit}"
        ).fetchall()
        found += [(int(pos), r, v) for pos, v in rows]
    found.sort(key=lambda t: (t[0], _col_pos(spec, t[1].column)))
    found = found[:limit]
    positions = sorted({p for p, _, _ in found})
    lines = locator.lines(positions)
    raws: dict[str, dict[int, Any]] = {}
    errors = []
    for pos, r, v in found:
        if r.value == "raw" and r.column is not None:
            if r.column not in raws:
                raws[r.column] = locator.raw([p for p, rr, _ in found if rr.column == r.column], r.column)
            v = raws[r.column].get(pos, v)
        errors.append(
            InputError(source, r.expected, row=lines.get(pos), column=r.column, value=_plain(v), table=spec.name)
        )
    return errors, total


def _duplicates(
    con: Any, name: str, spec: Any, *, source: str, locator: RowLocator, base: int
) -> tuple[list[InputError], int]:
    keys = ", ".join(q(k) for k in spec.keys)
    if not keys:
        return [], 0
    n = con.execute(
        f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {q(name)} GROUP BY {keys} HAVING count(*) > 1)"
    ).fetchone()[0]
    if not n:
        return [], 0
    rows = con.execute(
        f"SELECT pos - {base}, first - {base}, {keys} FROM (SELECT rowid AS pos, min(rowid) OVER (PARTITION BY {keys}) AS first, "
        f"{keys} FROM {q(name)}) WHERE pos <> first ORDER BY pos LIMIT {InputErrors.LIMIT}"
    ).fetchall()
    lines = locator.lines(sorted({int(r[0]) for r in rows} | {int(r[1]) for r in rows}))
    errors = []
    for r in rows:
        key = ", ".join(f"{k}={_plain(v)}" for k, v in zip(spec.keys, r[2:], strict=True))
        errors.append(
            InputError(source, f"one row per key ({', '.join(spec.keys)}); same key as row {lines[int(r[1])]}",
                       row=lines[int(r[0])], column=spec.keys[0], value=key, table=spec.name)  # fmt: skip
        )
    return errors, int(n)


def to_pandas(tbl: pa.Table, spec: Any) -> pd.DataFrame:
    """An Arrow table of canonical columns as a pandas frame with the canonical dtypes."""
    out: dict[str, pd.Series] = {}
    for c in spec.columns:
        arr = tbl.column(c.name)
        if c.type in ("string", "json"):
            s = pd.Series(arr.to_pandas(), dtype="string") if len(arr) else pd.Series([], dtype="string")
        elif c.type == "float":
            s = pd.Series(arr.to_numpy(zero_copy_only=False), dtype="float64")
        elif c.type == "int":
            s = pd.Series(arr.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get), dtype="Int64")
        elif c.type == "bool":
            s = pd.Series(arr.to_pandas(), dtype="boolean")
        else:
            s = pd.Series(arr.cast(pa.timestamp("ns", tz="UTC")).to_pandas(), dtype="datetime64[ns, UTC]")
        out[c.name] = s.reset_index(drop=True)
    return pd.DataFrame(out)

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
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
        _drop(self.con, self.name)


def _drop(con: Any, name: str) -> None:
    """Drop a staging table and its flag tables."""
    con.execute(f"DROP TABLE IF EXISTS {q(name)}")
    for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, ?)", [f"__flags_{name}_"]
    ).fetchall():
        con.execute(f"DROP TABLE IF EXISTS {q(t)}")


class Checks:
    """What a per-table check (registered with :func:`coreduce.schema.check`) gets to work with.

    A check adds :class:`Rule` s (``rule``) and output transforms (``transform``); ``distinct`` reads the few
    distinct values of a column (units, variables) so that Python (pint) runs once per value, not per row.
    Column names in SQL come from ``col``; ``date_only`` is the flag "this timestamp was written as a bare date".
    """

    def __init__(self, con: Any, staged: str, spec: Any, date_only: dict[str, str]) -> None:
        self.con = con
        self.staged = staged
        self.spec = spec
        self.table = spec.name
        self.rules: list[Rule] = []
        self.transforms: dict[str, str] = {}
        self.transform_where: dict[str, str] = {}
        self._distinct: dict[tuple[tuple[str, ...], str | None], list[tuple]] = {}
        self._date_only = date_only

    @staticmethod
    def col(name: str) -> str:
        return q(name)

    def date_only(self, name: str) -> str:
        """SQL: the timestamp column ``name`` was written as a date without a clock time."""
        return self._date_only.get(name, "FALSE")

    def rule(self, column: str | None, bad: str, expected: str, *, value: str = "typed") -> None:
        """Rows where SQL ``bad`` is true are errors in ``column`` (message: got <value>, expected ``expected``)."""
        self.rules.append(Rule(column, f"({bad})", expected, value))

    def distinct(self, *columns: str, where: str | None = None) -> list[tuple]:
        """Distinct non-null value combinations of ``columns`` in the staged rows."""
        if (columns, where) in self._distinct:
            return self._distinct[(columns, where)]
        for (cached, w), rows in self._distinct.items():  # a projection of a wider distinct already read
            if w == where and set(columns) <= set(cached):
                idx = [cached.index(c) for c in columns]
                return sorted({tuple(r[i] for i in idx) for r in rows if all(r[i] is not None for i in idx)})
        cols = ", ".join(q(c) for c in columns)
        notnull = " AND ".join(f"{q(c)} IS NOT NULL" for c in columns)
        cond = f"{notnull} AND ({where})" if where else notnull
        rows = self.con.execute(f"SELECT DISTINCT {cols} FROM {q(self.staged)} WHERE {cond}").fetchall()
        self._distinct[(tuple(columns), where)] = rows
        return rows

    def transform(self, column: str, sql: str, where: str | None = None) -> None:
        """Write ``sql`` (over the staged columns) instead of ``column`` (e.g. a unit conversion); ``where``
        (SQL) names the rows it changes, so that a stored table can be converted in place."""
        self.transforms[column] = sql
        self.transform_where[column] = where or "TRUE"


def _as_text(x: str, intype: str) -> str:
    return x if intype.startswith("VARCHAR") else f"CAST({x} AS VARCHAR)"


def _text(x: str, intype: str) -> str:
    t = _as_text(x, intype)
    # trim only what needs it (most values have no surrounding spaces; a prefix/suffix test is cheap)
    return f"NULLIF(CASE WHEN starts_with({t}, ' ') OR ends_with({t}, ' ') THEN trim({t}) ELSE {t} END, '')"


def _lenient_cast(x: str, sql_type: str) -> str:
    """``TRY_CAST`` of text, trimming only the values that do not parse as they are (cheap on clean input)."""
    return f"COALESCE(TRY_CAST({x} AS {sql_type}), TRY_CAST(trim({x}) AS {sql_type}))"


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
            r = _as_text(x, intype)
            parsed = _lenient_cast(r, "DOUBLE")
            blank = f"trim({r}) = ''"
            items.append(f"CASE WHEN {r} IS NULL THEN FALSE WHEN {parsed} IS NOT NULL THEN FALSE ELSE NOT {blank} END "
                         f"AS {q('__bad_' + name)}")  # fmt: skip
            items.append(f"CASE WHEN {r} IS NULL THEN {dflt or 'NULL'} ELSE coalesce({parsed}, CASE WHEN {blank} THEN "
                         f"{dflt or 'NULL'} END) END AS {qn}")  # fmt: skip
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
            items.append(
                f"{x} IS NOT NULL AND CAST({x} AS TIMESTAMP) <> date_trunc('day', {x}) AS {q('__naive_' + name)}"
            )
            items.append(f"CAST(CAST({x} AS TIMESTAMP) AS TIMESTAMPTZ) AS {qn}")
            rules.append(
                Rule(
                    name,
                    q("__naive_" + name),
                    "a timezone-aware timestamp (e.g. 2019-01-01T08:00:00+08:00 or ...Z)",
                    "raw",
                )
            )
        else:
            # the raw text is kept; whether it is naive, a bare date or unparseable is decided once per distinct
            # value after staging (see _timestamp_flags): timestamps repeat across sites and variables
            how = "text"
            r = _as_text(x, intype)
            items.append(f"{r} AS {q('__raw_' + name)}")
            items.append(
                f"CASE WHEN {r} IS NULL THEN {dflt or 'NULL'} ELSE {_lenient_cast(r, 'TIMESTAMPTZ')} END AS {qn}"
            )
        rules.append(
            Rule(
                name,
                f"{qn} < TIMESTAMPTZ '{TIME_MIN} 00:00:00+00' OR {qn} > TIMESTAMPTZ '{TIME_MAX} 00:00:00+00'",
                f"a date/time between {TIME_MIN} and {TIME_MAX} (out of the supported range: coreduce keeps "
                "times as pandas datetime64[ns])",
                "raw",
            )
        )
    else:  # pragma: no cover - load_spec refuses unknown types
        raise ValueError(f"unknown column type {typ!r}")
    if needs_value:
        flags = [r.bad for r in rules if r.bad.startswith('"__')]
        cond = f"{qn} IS NULL" + "".join(f" AND NOT {f}" for f in flags)
        if typ == "timestamp" and how == "text":  # a value that does not parse is reported as such, not as missing
            raw = q("__raw_" + name)
            cond = f"CASE WHEN {cond} THEN ({raw} IS NULL OR trim({raw}) = '') ELSE FALSE END"
        rules.insert(0, Rule(name, cond, "a value (this column is required)", "typed"))
    return items, rules, how


# "ends with a UTC offset": Z, +HH:MM, +HHMM or +HH (or -); suffix tests are cheap per row
_OFFSET = (
    "(ends_with(@, 'Z') OR ends_with(@, 'z') OR @ LIKE '%+__:__' OR @ LIKE '%-__:__' OR @ LIKE '%+____' "
    "OR @ LIKE '%-____' OR @ LIKE '%+__' OR @ LIKE '%-__')"
)


def _timestamp_flags(con: Any, staged: str, column: str) -> tuple[list[Rule], str]:
    """Rules for a timestamp column staged from text, judged once per distinct written value.

    Returns the rules (naive date-time, unparseable) and the SQL of the "written as a bare date" flag.
    """
    raw = q("__raw_" + column)
    flags = f"__flags_{staged}_{column}"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {q(flags)} AS
        SELECT raw, length(v) > 10 AND NOT {_OFFSET.replace("@", "v")} AS naive,
               length(v) = 10 AND v LIKE '____-__-__' AS date_only,
               TRY_CAST(v AS TIMESTAMPTZ) IS NULL AS bad
        FROM (SELECT raw, trim(raw) AS v FROM (SELECT DISTINCT {raw} AS raw FROM {q(staged)} WHERE {raw} IS NOT NULL)
              WHERE trim(raw) <> '')
    """)
    n_naive, n_date, n_bad = con.execute(
        f"SELECT count(*) FILTER (WHERE naive), count(*) FILTER (WHERE date_only), "
        f"count(*) FILTER (WHERE bad AND NOT naive) FROM {q(flags)}"
    ).fetchone()
    rules = []
    if n_naive:
        rules.append(Rule(column, f"{raw} IN (SELECT raw FROM {q(flags)} WHERE naive)",
                          "a timezone-aware timestamp (e.g. 2019-01-01T08:00:00+08:00 or ...Z), not a naive date-time",
                          "raw"))  # fmt: skip
    if n_bad:
        rules.append(Rule(column, f"{raw} IN (SELECT raw FROM {q(flags)} WHERE bad AND NOT naive)",
                          "a valid ISO 8601 date/time", "raw"))  # fmt: skip
    date_only = f"{raw} IN (SELECT raw FROM {q(flags)} WHERE date_only)" if n_date else "FALSE"
    return rules, date_only


_SEQ = itertools.count()


def describe_input(con: Any, from_sql: str, spec: Any, *, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """Input column names (stripped → as written) and DuckDB types; errors for repeated or missing columns."""
    desc = con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()
    intypes: dict[str, str] = {}
    inname: dict[str, str] = {}
    for row in desc:
        raw_name = str(row[0])
        key = raw_name.strip()
        if key in inname:
            raise InputErrors(
                [InputError(source, "a header with unique column names", row=1, column=key, value=key, table=spec.name)]
            )
        inname[key] = raw_name
        intypes[key] = str(row[1])
    missing = [c.name for c in spec.columns if c.required and c.name not in inname]
    if missing:
        found = ", ".join(inname)
        raise InputErrors(
            [
                InputError(
                    source,
                    f"required column(s) {', '.join(missing)} (found: {found})",
                    row=1,
                    column=missing[0],
                    table=spec.name,
                )
            ]
        )
    return inname, intypes


def strict_select(
    spec: Any, inname: dict[str, str], intypes: dict[str, str], sample: dict[str, str] | None = None
) -> tuple[list[str], list[Rule]] | None:
    """The optimistic form of staging: SELECT items that *raise* on any value that would need its raw text
    to be reported (unparseable, naive or bare-date timestamps), and the rules checkable on typed columns.

    None when a column type has no strict form here (the caller stages as usual).  ``sample`` (column → a value
    of the input, e.g. its first row) lets the offset test try that value's own offset first: a file has one
    offset almost always, and a constant-suffix test is the cheapest there is.
    """
    items: list[str] = []
    rules: list[Rule] = []
    for c in spec.columns:
        x = q(inname[c.name]) if c.name in inname else None
        intype = intypes.get(c.name, "")
        if x is not None and not intype.startswith("VARCHAR"):
            return None
        if x is not None and c.type not in ("string", "float", "timestamp"):
            return None
        it, rs, _ = _column_exprs(c, x, intype)
        rules += [r for r in rs if '"__' not in r.bad]
        if x is None:
            items += it
            continue
        if c.type == "string":
            # the value as read: no trimming per row.  A value that the careful path would change (surrounding
            # spaces trimmed, an empty string read as missing) sends the whole input there instead (a rule)
            qn = q(c.name)
            dflt = f"CAST({lit(c.default)} AS VARCHAR)" if c.default is not None else None
            items.append(f"{('COALESCE(' + x + ', ' + dflt + ')') if dflt else x} AS {qn}")
            rules.append(
                Rule(c.name, f"{qn} = '' OR starts_with({qn}, ' ') OR ends_with({qn}, ' ')", "text as written", "raw")
            )
            continue
        sql_t = DUCK_TYPES[c.type]
        dflt = f"CAST({lit(c.default)} AS {sql_t})" if c.default is not None else "NULL"
        if c.type == "float":
            items.append(f"CASE WHEN {x} IS NULL THEN {dflt} ELSE CAST({x} AS DOUBLE) END AS {q(c.name)}")
        else:  # timestamps must carry a clock time and an offset here; anything else takes the careful path
            offset = _OFFSET.replace("@", x)
            m = re.search(r"(Z|z|[+-]\d{2}:?\d{2}|[+-]\d{2})$", (sample or {}).get(c.name) or "")
            if m and len((sample or {})[c.name].strip()) > 10:
                offset = f"(ends_with({x}, {lit(m.group(1))}) OR {offset})"
            items.append(
                f"CASE WHEN {x} IS NULL THEN {dflt} WHEN length({x}) <= 10 OR NOT {offset} "
                f"THEN error('not a timezone-aware timestamp') ELSE CAST({x} AS TIMESTAMPTZ) END AS {q(c.name)}"
            )
    return items, rules


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
    inname, intypes = describe_input(con, from_sql, spec, source=source)
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
        date_only: dict[str, str] = {}
        for c in spec.columns:
            if c.type == "timestamp" and how[c.name] == "text":
                ts_rules, date_only[c.name] = _timestamp_flags(con, name, c.name)
                rules += ts_rules
        ctx = Checks(con, name, spec, date_only)
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
        _drop(con, name)
        raise


def load_strict(
    con: Any,
    from_sql: str,
    spec: Any,
    target: str,
    *,
    source: str,
    checks: Sequence[Callable[[Checks], None]] = (),
    extra_rules: Sequence[Rule] = (),
    after_load: Callable[[], None] | None = None,
    normalise: dict[str, str] | None = None,
    sample: dict[str, str] | None = None,
) -> int | None:
    """Optimistic load into an EMPTY table: insert with strict casts, check the stored rows, convert in place.

    For clean input this is one pass over the source plus a few scans, with no staging copy.  It returns the
    number of rows loaded, or None as soon as anything is wrong (a value that does not cast, a rejected line,
    a violated rule, a repeated key): the caller then rolls the transaction back and stages the input the
    careful way (:func:`stage`), which reports every error with its line and value.  Must run inside a
    transaction the caller rolls back on None.  ``normalise`` (column → SQL over the typed columns) converts
    while loading (:func:`coreduce.schema.normaliser`).
    """
    import duckdb

    inname, intypes = describe_input(con, from_sql, spec, source=source)
    sel = strict_select(spec, inname, intypes, sample)
    if sel is None:
        return None
    items, rules = sel
    cols = ", ".join(q(c.name) for c in spec.columns)
    conv = dict(normalise or {})
    outer = ", ".join(f"{conv.get(c.name, q(c.name))} AS {q(c.name)}" for c in spec.columns)
    try:
        n = int(
            con.execute(
                f"INSERT INTO {q(target)} ({cols}) SELECT {outer} FROM (SELECT {', '.join(items)} FROM {from_sql})"
            ).fetchone()[0]
        )
    except duckdb.Error:
        return None
    if after_load is not None:
        try:
            after_load()
        except InputError:
            return None
    if n == 0:
        return None
    ctx = Checks(con, target, spec, {})
    for fn in checks:
        fn(ctx)
    rules = rules + ctx.rules + list(extra_rules)
    # a filtered scan for any violated rule (DuckDB short-circuits the OR per row: cheaper than an aggregate
    # FILTER over the same predicates, measured), then whether every key is distinct (a repeated key or a hash
    # collision: the careful path decides and reports)
    if (
        rules
        and con.execute(
            f"SELECT count(*) FROM {q(target)} WHERE " + " OR ".join(f"({r.bad})" for r in rules)
        ).fetchone()[0]
    ):
        return None
    keys = ", ".join(q(k) for k in spec.keys)
    if keys and not con.execute(f"SELECT count(*) = count(DISTINCT hash({keys})) FROM {q(target)}").fetchone()[0]:
        return None
    by_where: dict[str, list[str]] = {}
    for col, sql in ctx.transforms.items():
        by_where.setdefault(ctx.transform_where.get(col, "TRUE"), []).append(f"{q(col)} = {sql}")
    for where, sets in by_where.items():
        con.execute(f"UPDATE {q(target)} SET {', '.join(sets)} WHERE {where}")
    return n


def check_distinct_text(con: Any, tbl: pa.Table, spec: Any) -> tuple[pa.Table, set[str]] | None:
    """Type and check the dictionary-encoded text columns of an Arrow table once per distinct value.

    For each canonical ``string`` / ``json`` column held as one dictionary array (what
    :func:`coreduce.schema._scannable` makes of a pandas text column), the staging expression of the column
    (trim, empty → null, the default) and its rules (NUL bytes, valid JSON, a required value) are evaluated by
    DuckDB over the dictionary's values — plus one null when some rows are null — instead of over every row;
    each row's value is that of its dictionary entry, so the rows pass exactly when every entry they use
    passes.  The column is replaced by the typed dictionary (rows whose typed value is null made null).

    Returns the table and the names of the columns so typed (their values need no further work or checks),
    or None when any entry breaks a rule: the caller then takes the careful path, which reports every error
    with its row.
    """
    inname = {n.strip(): n for n in tbl.column_names}
    if len(inname) != len(tbl.column_names):
        return None  # repeated names: the careful path names them
    checked: set[str] = set()
    for c in spec.columns:
        if c.type not in ("string", "json") or c.name not in inname:
            continue
        col = tbl.column(inname[c.name])
        if col.num_chunks != 1 or not pa.types.is_dictionary(col.type):
            continue
        arr = col.chunk(0)
        if not pa.types.is_string(arr.type.value_type) and not pa.types.is_large_string(arr.type.value_type):
            continue
        values = arr.dictionary.cast(pa.string())
        has_null = arr.null_count > 0
        if has_null:
            values = pa.concat_arrays([values, pa.nulls(1, pa.string())])
        items, rules, how = _column_exprs(c, q("v"), "VARCHAR")
        if how != "typed" or len(items) != 1 or any(r.bad.startswith('"__') for r in rules):  # pragma: no cover
            continue
        bad = " OR ".join(r.bad for r in rules) or "FALSE"
        view = f"__coreduce_distinct_{next(_SEQ)}"
        con.register(view, pa.table({"__pos": pa.array(range(len(values)), pa.int64()), "v": values}))
        try:
            typed = con.execute(
                f"SELECT {q(c.name)}, {bad} FROM (SELECT __pos, {items[0]} FROM {view}) ORDER BY __pos"
            ).fetch_arrow_table()
        finally:
            con.unregister(view)
        if len(typed) != len(values) or any(typed.column(1).to_pylist()):
            return None
        text = typed.column(0).combine_chunks().cast(pa.string())
        idx = arr.indices
        if has_null:
            idx = pc.fill_null(idx, pa.scalar(len(values) - 1, idx.type))
        idx = pc.if_else(pc.take(pc.is_valid(text), idx), idx, pa.scalar(None, idx.type))
        pos = tbl.schema.get_field_index(inname[c.name])
        tbl = tbl.set_column(pos, inname[c.name], pa.DictionaryArray.from_arrays(idx, text))
        checked.add(c.name)
    return tbl, checked


def unique_key_codes(tbl: pa.Table, spec: Any, checked: Iterable[str]) -> bool | None:
    """Whether the key columns of ``spec`` in an Arrow table (typed: dictionary text, numbers, timestamps) hold
    every key once, decided exactly on integer codes (dictionary entries are compared by their text, so two
    entries with the same text are one value; nulls equal each other, as in a ``GROUP BY``).  Text key columns
    must be among ``checked`` (typed by :func:`check_distinct_text`: trimmed, defaults applied).  None when a
    key column is missing, untyped text or of another kind (the caller then checks in SQL)."""
    import numpy as np

    checked = set(checked)
    names = {c.strip(): c for c in tbl.column_names}
    combined: Any = None
    span = 1
    for k in spec.keys:
        if k not in names:
            return None
        col = tbl.column(names[k])
        if col.num_chunks != 1:
            col = pa.chunked_array([col.combine_chunks()]) if not pa.types.is_dictionary(col.type) else None
            if col is None:
                return None
        arr = col.chunk(0)
        if pa.types.is_dictionary(arr.type):
            if k not in checked:
                return None
            d_codes, _ = pd.factorize(np.asarray(arr.dictionary.to_pylist(), dtype=object))
            idx = arr.indices.to_numpy(zero_copy_only=False) if arr.null_count == 0 else (
                pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False))  # fmt: skip
            codes = np.where(idx >= 0, np.append(d_codes, -1)[idx], -1).astype(np.int64)
        elif pa.types.is_timestamp(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
            codes, _ = pd.factorize(arr.to_numpy(zero_copy_only=False), use_na_sentinel=True)
            codes = codes.astype(np.int64)
        else:
            return None
        codes = codes + 1  # null -> 0
        card = int(codes.max()) + 1 if len(codes) else 1
        if combined is None:
            combined, span = codes, card
            continue
        if span * card >= 2**62:  # mixed radix would overflow: make the codes so far dense first
            combined, uniq = pd.factorize(combined)
            combined, span = combined.astype(np.int64), len(uniq)
        combined = combined * card + codes
        span *= card
    if combined is None:
        return None
    return len(pd.unique(combined)) == len(combined)


def insert_checked(
    con: Any,
    from_sql: str,
    spec: Any,
    target: str,
    *,
    source: str,
    extra_rules: Sequence[Rule] = (),
    checked: Iterable[str] = (),
    keys_unique: bool = False,
) -> int | None:
    """Fast path for rows that are already canonical (``validate=False``) into an EMPTY table: every check the
    staging would run on them (the typing rules — required values, NUL bytes, finite numbers, the time range —,
    ``extra_rules`` and the unique key) in **one** aggregate over the input, then one ``INSERT … SELECT`` from
    it: no staging copy.

    Returns the number of rows inserted, or None — nothing written — when a column would need the careful
    staging (text to parse into numbers, integers, booleans or times) or when anything is wrong or empty: the
    caller then stages the input (:func:`stage`), which reports every error with its row, column and value.
    A hash collision of two distinct keys also returns None (the careful path compares the keys themselves).

    ``checked`` names text columns already typed and checked once per distinct value
    (:func:`check_distinct_text`): they are inserted as they are.  ``keys_unique=True`` says the caller has
    proved the key unique exactly (:func:`unique_key_codes`), so it is not counted again here.
    """
    inname, intypes = describe_input(con, from_sql, spec, source=source)
    done = set(checked)
    items: list[str] = []
    rules: list[Rule] = []
    for c in spec.columns:
        x = q(inname[c.name]) if c.name in inname else None
        if c.name in done and x is not None and intypes.get(c.name, "").startswith("VARCHAR"):
            items.append(f"{x} AS {q(c.name)}")
            continue
        it, rs, how = _column_exprs(c, x, intypes.get(c.name, ""))
        if how == "text" or any(r.bad.startswith('"__') for r in rs):  # parsing text, or a flag column
            return None
        items += it
        rules += rs
    rules += list(extra_rules)
    sel = f"SELECT {', '.join(items)} FROM {from_sql}"
    keys = ", ".join(q(k) for k in spec.keys)
    bad = " OR ".join(r.bad for r in rules) or "FALSE"
    n_keys_sql = "count(*)" if not keys or keys_unique else f"count(DISTINCT hash({keys}))"
    n, n_bad, n_keys = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {bad}), {n_keys_sql} FROM ({sel})"
    ).fetchone()
    if not n or n_bad or n_keys != n:
        return None
    cols = ", ".join(q(c.name) for c in spec.columns)
    inserted = int(con.execute(f"INSERT INTO {q(target)} ({cols}) {sel}").fetchone()[0])
    if inserted != n:  # pragma: no cover - the input changed between the two statements
        raise RuntimeError(f"{target}: {n} rows checked but {inserted} inserted")
    return inserted


def clean_text_columns(tbl: pa.Table, spec: Any) -> set[str] | None:
    """The canonical text columns of an Arrow table whose values are already what staging would store, decided
    in Python once per distinct value: every such column present, one dictionary array of text without nulls, and
    each distinct value non-empty, without surrounding whitespace (``str.strip``: stricter than the staging's
    trim of spaces) and without NUL bytes, so the staging expression (trim, empty -> null, default) leaves it as
    it is and its rules (required, NUL bytes) pass.  None when any column is not so (a ``json`` column included):
    the caller stages the frame, which transforms and reports as usual."""
    checked: set[str] = set()
    for c in spec.columns:
        if c.type == "json":
            if c.name in tbl.column_names:
                return None
            continue
        if c.type != "string":
            continue
        if c.name not in tbl.column_names:
            return None
        col = tbl.column(c.name)
        if col.num_chunks != 1 or not pa.types.is_dictionary(col.type) or col.null_count:
            return None
        arr = col.chunk(0)
        if not pa.types.is_string(arr.type.value_type) and not pa.types.is_large_string(arr.type.value_type):
            return None
        for v in arr.dictionary.to_pylist():
            if not v or v != v.strip() or "\x00" in v:
                return None
        checked.add(c.name)
    return checked


def upsert_checked(
    con: Any,
    view: str,
    spec: Any,
    target: str,
    *,
    source: str,
    checks: Sequence[Callable[[Checks], None]] = (),
    extra_rules: Sequence[Rule] = (),
    checked: Iterable[str] = (),
    keys_unique: bool = False,
) -> tuple[int, int] | None:
    """Fast path for a small typed frame (a registered Arrow ``view``) into a table that may already hold rows.

    The view must already be the staged relation: every canonical column present under its own name, text
    columns ``checked`` (:func:`clean_text_columns`), the others of their canonical DuckDB type, so that the
    table's registered ``checks`` run on the view itself, as :func:`stage` runs them on its staging table.  One
    aggregate then evaluates every rule (and the key unless ``keys_unique``); into an empty table one ``INSERT``,
    otherwise one join counts new and changed keys and one anti-join ``INSERT`` adds the new rows.  No staging
    copy: a stream's batch of a few hundred readings is half the statements of the careful path.

    Returns ``(rows, inserted)``, or None — nothing written — when the careful path must decide: a column to parse
    or cast, a broken rule, a repeated key, or a stored key whose values differ (an update, which
    :meth:`coreduce.store.base.Backend.write` materialises and reports).
    """
    inname, intypes = describe_input(con, q(view), spec, source=source)
    done = set(checked)
    rules: list[Rule] = []
    for c in spec.columns:
        if inname.get(c.name) != c.name:
            return None
        x, it = q(c.name), intypes.get(c.name, "")
        if c.name in done and it.startswith("VARCHAR"):
            continue
        items, rs, how = _column_exprs(c, x, it)
        if how != "typed" or c.type in ("string", "json") or any(r.bad.startswith('"__') for r in rs):
            return None
        if items != [f"{x} AS {x}"] and items != [f"CAST({x} AS {it}) AS {x}"]:  # the stored value would differ
            return None
        rules += rs
    ctx = Checks(con, view, spec, {})
    for fn in checks:
        fn(ctx)
    rules += ctx.rules + list(extra_rules)
    keys = ", ".join(q(k) for k in spec.keys)
    bad = " OR ".join(r.bad for r in rules) or "FALSE"
    n_keys_sql = "count(*)" if not keys or keys_unique else f"count(DISTINCT hash({keys}))"
    ts_keys = [k for k in spec.keys if spec.column(k).type == "timestamp"]
    span_sql = f"min({q(ts_keys[0])}), max({q(ts_keys[0])})" if ts_keys else "NULL, NULL"
    n, n_bad, n_keys, lo, hi = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {bad}), {n_keys_sql}, {span_sql} FROM {q(view)}"
    ).fetchone()
    if not n or n_bad or n_keys != n:
        return None
    names = [c.name for c in spec.columns]
    cols = ", ".join(q(c) for c in names)
    src = f"(SELECT {', '.join(f'{ctx.transforms.get(c, q(c))} AS {q(c)}' for c in names)} FROM {q(view)})"
    match = " AND ".join(f"d.{q(k)} = s.{q(k)}" for k in spec.keys)
    # the stored side limited to the frame's time span on a timestamp key column: equal keys have equal times, and
    # DuckDB skips the row groups outside the span by their min/max (the cost no longer grows with the table)
    span = ""
    if ts_keys and lo is not None:
        span = f" WHERE {q(ts_keys[0])} BETWEEN {lit(lo)}::TIMESTAMPTZ AND {lit(hi)}::TIMESTAMPTZ"
    t = f"(SELECT * FROM {q(target)}{span})"
    # new keys inserted at once; when some key was stored already, its values must be unchanged (an update goes
    # the careful way: the caller rolls this transaction back)
    inserted = int(
        con.execute(
            f"INSERT INTO {q(target)} ({cols}) SELECT {', '.join('s.' + q(c) for c in names)} FROM {src} AS s "
            f"ANTI JOIN {t} AS d ON {match}"
        ).fetchone()[0]
    )
    if inserted < n:
        differs = " OR ".join(f"d.{q(c)} IS DISTINCT FROM s.{q(c)}" for c in names if c not in spec.keys) or "FALSE"
        (n_chg,) = con.execute(f"SELECT count(*) FROM {src} AS s JOIN {t} AS d ON {match} WHERE {differs}").fetchone()
        if n_chg:
            return None
    return n, inserted


def _col_pos(spec: Any, column: str | None) -> int:
    names = spec.names
    return names.index(column) if column in names else len(names)


def _evaluate(
    con: Any, name: str, spec: Any, rules: list[Rule], *, source: str, locator: RowLocator, base: int
) -> tuple[list[InputError], int]:
    if not rules:
        return [], 0
    # one filtered scan (cheap: DuckDB short-circuits the OR per row) says whether anything is wrong at all;
    # only then is each rule counted
    if not con.execute(f"SELECT count(*) FROM {q(name)} WHERE " + " OR ".join(r.bad for r in rules)).fetchone()[0]:
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
    # distinct key hashes prove distinct keys (a cheap integer count); only a collision or a real duplicate
    # pays for grouping on the key columns themselves
    if con.execute(f"SELECT count(*) = count(DISTINCT hash({keys})) FROM {q(name)}").fetchone()[0]:
        return [], 0
    n = con.execute(
        f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {q(name)} GROUP BY {keys} HAVING count(*) > 1)"
    ).fetchone()[0]
    if not n:
        return [], 0
    rows = con.execute(
        f"SELECT pos - {base}, first - {base}, {keys} FROM (SELECT rowid AS pos, "
        f"min(rowid) OVER (PARTITION BY {keys}) AS first, {keys} FROM {q(name)}) "
        f"WHERE pos <> first ORDER BY pos LIMIT {InputErrors.LIMIT}"
    ).fetchall()
    lines = locator.lines(sorted({int(r[0]) for r in rows} | {int(r[1]) for r in rows}))
    errors = []
    for r in rows:
        key = ", ".join(f"{k}={_plain(v)}" for k, v in zip(spec.keys, r[2:], strict=True))
        errors.append(
            InputError(
                source,
                f"one row per key ({', '.join(spec.keys)}); same key as row {lines[int(r[1])]}",
                row=lines[int(r[0])],
                column=spec.keys[0],
                value=key,
                table=spec.name,
            )
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

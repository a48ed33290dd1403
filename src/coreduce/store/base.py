"""The store protocol: a :class:`Backend` per database engine behind one :class:`Store` facade.

A backend knows how to open its URL, run statements in a transaction, create the canonical tables and write
a *staged* table (rows already typed and checked in DuckDB by :mod:`coreduce.schema.engine`) with an upsert
that counts inserted and changed rows from the statements themselves.  Reads go through Ibis
(:attr:`Backend.con`), which also compiles for PySpark: a Spark backend fits by implementing the same methods
(``staging`` may hand out an in-memory DuckDB and ``write`` push Arrow batches to Spark).

Backends register themselves with :func:`register`; :class:`Store` picks the first whose :meth:`Backend.parse`
accepts the URL.  No code outside a backend module branches on which backend it is.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import ibis
import pandas as pd

from coreduce import schema
from coreduce.errors import CoreduceError, InputError, InputErrors, StoreError, UnknownTableError
from coreduce.schema import engine
from coreduce.schema.engine import Rule, q

_SQL_TYPES = {"string": "TEXT", "float": "DOUBLE PRECISION", "int": "BIGINT", "timestamp": "TIMESTAMPTZ",
              "bool": "BOOLEAN", "json": "TEXT"}  # fmt: skip

_USERINFO_PW = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:?#]*:)(?P<pw>[^@/?#]*)(?P<at>@)")
_KV_PW = re.compile(r"(?P<head>(?:^|[?&\s])password=)(?P<pw>'(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE)


def mask_url(url: str | Path) -> str:
    """The URL with any password replaced by ``***`` (``user:pw@``, ``?password=``, ``password=`` conninfo)."""
    s = str(url)
    s = _USERINFO_PW.sub(lambda m: f"{m['head']}***{m['at']}" if m["pw"] else m.group(0), s)
    return _KV_PW.sub(lambda m: f"{m['head']}***", s)


def q_ident(name: str) -> str:
    """A quoted SQL identifier (same quoting on every backend)."""
    return q(name)


def ddl(table: str, *, primary_key: bool = True, types: Mapping[str, str] = _SQL_TYPES) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for a canonical table, from its declaration in ``tables.csv``."""
    sp = schema.spec(table)
    cols = [f"{q(c.name)} {types[c.type]}{' NOT NULL' if (c.required or c.key) else ''}" for c in sp.columns]
    if primary_key:
        cols.append(f"PRIMARY KEY ({', '.join(q(k) for k in sp.keys)})")
    return f"CREATE TABLE IF NOT EXISTS {q(table)} (\n  " + ",\n  ".join(cols) + "\n)"


@dataclass
class IngestReport:
    """What one ingest did, per table: rows read, rows new (``inserted``), rows whose key was already stored
    (``matched``) and, of those, rows whose values changed (``changed``) — counted by the write statements."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)

    @property
    def matched(self) -> dict[str, int]:
        return {t: self.rows[t] - self.inserted.get(t, 0) for t in self.rows}

    @property
    def updated(self) -> dict[str, int]:
        """Alias of :attr:`matched`: rows upserted onto an existing key."""
        return self.matched

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows": self.rows, "inserted": self.inserted, "matched": self.matched,
                "changed": self.changed}  # fmt: skip


class Backend(ABC):
    """One database engine behind :class:`Store`."""

    name: ClassVar[str]

    #: Ibis backend for reads; raw DB-API connection for writes.
    con: Any
    raw: Any

    def __init__(self, url: str, args: dict[str, Any]) -> None:
        self.url = url
        self.args = args
        self.display_url = mask_url(url)

    @classmethod
    @abstractmethod
    def parse(cls, url: str) -> dict[str, Any] | None:
        """Connection arguments if this backend serves ``url``, else None (or StoreError if it is malformed)."""

    @classmethod
    def exists(cls, args: dict[str, Any]) -> bool:
        """Whether the store behind ``args`` exists already (a server database is assumed to)."""
        return True

    # -- query capabilities (see :func:`epoch_bucket`, :func:`orders_by_code_point`)
    #: ``ORDER BY`` on text sorts by code point, as Python does (False: a locale collation may apply).
    code_point_order: ClassVar[bool] = False
    #: The accounting pipeline runs its activity × factor join in this engine (one Ibis expression,
    #: :mod:`coreduce.account.expression`) rather than in the calling process.  True where the data outgrow one
    #: process (Spark); False where the engine is this process or one server (DuckDB, PostgreSQL): there the
    #: in-process expansion of the same per-key factor table is faster and gives the same numbers.
    accounting_in_engine: ClassVar[bool] = False

    #: Name of the Ibis backend that runs this engine's expressions (``ibis.BaseBackend.name``).
    ibis_name: ClassVar[str] = ""

    @classmethod
    def drop_in_memory_table(cls, con: Any, name: str) -> None:
        """Drop an Ibis in-memory table (``ibis.memtable``) registered on Ibis backend ``con`` (default: a
        temporary table, as Ibis registers one on PostgreSQL)."""
        con.drop_table(name, force=True)

    @classmethod
    def epoch_bucket(cls, ts: Any, width_us: int) -> Any:
        """Ibis expression: the number of the ``width_us`` bucket since 1970-01-01 UTC holding ``ts``
        (portable form: epoch seconds, floor-divided; ``width_us`` a whole number of seconds)."""
        if width_us % 1_000_000:
            raise ValueError(f"bucket width {width_us} us is not a whole number of seconds")
        return (ts.epoch_seconds() // (width_us // 1_000_000)).cast("int64")

    # -- transactions and statements
    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run one statement with ``?`` parameter markers; return its rows (empty if none)."""

    def lock(self, table: str) -> None:
        """Exclusive append lock on ``table`` until the transaction ends (default: the engine has one writer)."""
        return None

    # -- schema
    def ddl(self, table: str) -> str:
        return ddl(table)

    def create_tables(self, tables: Sequence[str]) -> None:
        """Create ``tables`` if missing (called inside a transaction)."""
        for t in tables:
            self.execute(self.ddl(t))

    def drop_table(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {q(name)}")

    def list_tables(self) -> list[str]:
        return sorted(self.con.list_tables())

    # -- writes
    @contextmanager
    @abstractmethod
    def staging(self) -> Iterator[Any]:
        """A DuckDB connection to stage (type and check) rows in before :meth:`write`."""

    def extra_rules(self, spec: schema.TableSpec) -> list[Rule]:
        """Checks for this engine's own limits (e.g. index key size)."""
        return []

    def load_csv_strict(
        self, rel: str, spec: schema.TableSpec, *, source: str, after_load: Any, sample: dict[str, str] | None = None
    ) -> int | None:
        """Optional fast path for a CSV into an empty table (inside a transaction the caller rolls back on None):
        the number of rows loaded, or None to stage the careful way.  ``sample``: the file's first record."""
        return None

    def upsert_csv_strict(
        self, rel: str, spec: schema.TableSpec, *, source: str, after_load: Any, sample: dict[str, str] | None = None
    ) -> tuple[int, int, int] | None:
        """Optional fast path for a CSV into any table (inside a transaction the caller rolls back on None):
        ``(rows, inserted, changed)``, or None to stage the careful way.  Default: :meth:`load_csv_strict`
        (an empty table only)."""
        n = self.load_csv_strict(rel, spec, source=source, after_load=after_load, sample=sample)
        return None if n is None else (n, n, 0)

    def upsert_frame_strict(self, df: pd.DataFrame, spec: schema.TableSpec, *, checks: Sequence[Any] = ()
                            ) -> tuple[int, int] | None:  # fmt: skip
        """Optional fast path for a small frame of clean canonical values into a table that may hold rows (inside
        the caller's transaction), running ``checks`` as staging would: ``(rows, inserted)``, or None — nothing
        written — to stage the careful way (which also reports errors and writes updates of stored keys)."""
        return None

    def load_frame_strict(self, df: pd.DataFrame, spec: schema.TableSpec) -> int | None:
        """Optional fast path for a canonical frame (``validate=False``) into an empty table (inside the
        caller's transaction): the number of rows written after checking them as staging would, or None —
        nothing written — to stage the careful way."""
        return None

    @abstractmethod
    def write(self, staged: engine.Staged) -> tuple[int, int]:
        """Upsert a staged table into its canonical table; return (inserted, changed) from the statements."""

    def close(self) -> None:
        try:
            self.con.disconnect()
        except Exception:  # already closed
            pass


BACKENDS: list[type[Backend]] = []


def check_ingestable(tables: Sequence[str]) -> None:
    """StoreError if one of ``tables`` is written only by the ledger (``ledger``, ``claims``)."""
    own = [t for t in tables if t in schema.LEDGER_TABLES]
    if own:
        raise StoreError(
            f"table {own[0]!r} is written only by the ledger (append-only, hash-chained); it cannot be ingested"
        )


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available to :class:`Store` (tried in registration order)."""
    BACKENDS.append(cls)
    return cls


def parse_url(url: str | Path) -> tuple[str, dict[str, Any]]:
    """The backend name and connection arguments for a store URL.

    Accepted: a path (``ws.duckdb``), ``duckdb:///path/ws.duckdb``, ``:memory:``, ``postgresql://…`` /
    ``postgres://…`` (a libpq URL: query parameters such as ``sslmode``, ``sslrootcert`` or ``host=/socket/dir``
    are honoured).  Any other scheme (``md:``, ``s3://``, ``http://``) is refused.
    """
    s = str(url)
    for cls in _backends():
        args = cls.parse(s)
        if args is not None:
            return cls.name, args
    raise StoreError(f"store URL {mask_url(s)!r}: expected a .duckdb path, duckdb:///path or postgresql://…")


def exists(url: str | Path) -> bool:
    """Whether a store URL names an existing store (False for a DuckDB file not created yet), without
    creating or opening it — for commands that only read (``ledger list``)."""
    name, args = parse_url(url)
    return next(c for c in _backends() if c.name == name).exists(args)


def _ibis_backend_class(expr: Any) -> type[Backend]:
    """The registered backend class whose Ibis backend runs ``expr`` (an unbound memtable runs on Ibis's default
    backend, DuckDB; a backend coreduce does not know gets the portable :class:`Backend` forms)."""
    try:
        name = expr._find_backend(use_default=True).name
    except Exception:  # unbound in an Ibis without a default backend
        name = "duckdb"
    return next((c for c in _backends() if c.name == name), Backend)


def epoch_bucket(ts: Any, width_us: int) -> Any:
    """Ibis integer expression: ``floor(epoch_us(ts) / width_us)``, the ``width_us``-microsecond bucket since
    1970-01-01 UTC holding timestamp expression ``ts``, in the form ``ts``'s backend computes fastest
    (DuckDB: integer arithmetic on ``epoch_us``, no per-row calendar work; others: epoch seconds)."""
    return _ibis_backend_class(ts).epoch_bucket(ts, width_us)


def release_in_memory_tables(expr: Any, con: Any) -> None:
    """Drop the in-memory tables of ``expr`` that Ibis registered on backend ``con`` when it ran ``expr``.

    Ibis 12 keeps a registered ``memtable`` until the process exits; in a store that would leave views or
    temporary tables behind (listed by ``Store.tables()``, in the way of ``drop_all``).  Each engine drops its own
    kind (a DuckDB registered view, a Spark temporary view, a PostgreSQL temporary table)."""
    import ibis.expr.operations as ops

    cls = next((c for c in _backends() if (c.ibis_name or c.name) == con.name), Backend)
    registered = getattr(con, "_memtables", None)
    for op in expr.op().find(ops.InMemoryTable):
        if registered is not None and op in registered:
            cls.drop_in_memory_table(con, op.name)
            registered.discard(op)


def orders_by_code_point(expr: Any) -> bool:
    """Whether ``ORDER BY`` on ``expr``'s backend sorts text by code point, as pandas does (DuckDB's binary
    collation), so a sort can be left to the engine; False where a locale collation may apply (PostgreSQL)."""
    return _ibis_backend_class(expr).code_point_order


def _backends() -> list[type[Backend]]:
    if not BACKENDS:  # import the built-in backends (they register themselves)
        from coreduce.store import duckdb as _d  # noqa: F401
        from coreduce.store import postgres as _p  # noqa: F401
    return sorted(BACKENDS, key=lambda c: getattr(c, "priority", 100))


class Store:
    """A coreduce workspace: the canonical tables in DuckDB (default) or PostgreSQL.

    Parameters
    ----------
    url : str or pathlib.Path
        ``"coreduce.duckdb"`` (default, embedded, zero set-up), ``":memory:"`` or
        ``"postgresql://postgres@127.0.0.1:5432/test?sslmode=require"``.
    create : bool
        Create the canonical tables if they do not exist (default True).

    Attributes
    ----------
    url : str
        The URL as given (may hold a password: print :attr:`display_url` instead).
    display_url : str
        The URL with the password masked (``***``).
    backend : str
        ``"duckdb"`` or ``"postgres"`` (informational; behaviour differences live in the backend classes).
    con : ibis.BaseBackend
        Ibis connection for reads.
    raw : DB-API connection
        The backend's own connection (DuckDB or psycopg).
    """

    def __init__(self, url: str | Path = "coreduce.duckdb", *, create: bool = True) -> None:
        self.url = str(url)
        self.display_url = mask_url(self.url)
        name, args = parse_url(url)
        cls = next(c for c in _backends() if c.name == name)
        try:
            self._b: Backend = cls(self.url, args)
        except CoreduceError:
            raise
        except Exception as exc:
            msg = mask_url(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot open store {self.display_url!r}: {msg}") from None
        self.backend = cls.name
        self.accounting_in_engine = cls.accounting_in_engine
        self.con = self._b.con
        self.raw = self._b.raw
        self._depth = 0
        if create:
            self.create_tables()

    # ------------------------------------------------------------------ basics
    def __repr__(self) -> str:
        return f"Store({self.display_url!r}, backend={self.backend!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._b.close()

    def create_tables(self, tables: Sequence[str] | None = None) -> None:
        """Create the canonical tables (idempotent; race-free on PostgreSQL)."""
        with self.transaction():
            self._b.create_tables(list(schema.write_order(tables)))

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run one statement (``?`` parameter markers) in its own transaction and return its rows (if any)."""
        with self.transaction() as tx:
            return tx.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """All statements inside the block commit together or not at all (nested blocks join the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield Tx(self)
            finally:
                self._depth -= 1
            return
        self._b.begin()
        self._depth = 1
        try:
            yield Tx(self)
        except BaseException:
            self._depth = 0
            try:
                self._b.rollback()
            except Exception:  # the connection is gone (the rollback happened server-side)
                pass
            raise
        self._depth = 0
        self._b.commit()

    # ------------------------------------------------------------------ reads
    def tables(self) -> list[str]:
        """Names of the tables in the store."""
        return self._b.list_tables()

    def table(self, name: str) -> ibis.Table:
        """An Ibis table expression over a stored table (lazy; compiles to the backend's SQL)."""
        have = self._b.list_tables()
        if name not in have:
            raise UnknownTableError(f"store {self.display_url!r} has no table {name!r} (has: {', '.join(have)})")
        return self.con.table(name)

    def read(self, name: str) -> pd.DataFrame:
        """A whole table as a pandas DataFrame, sorted by its key (canonical tables)."""
        t = self.table(name)
        if name in schema.TABLES:
            t = t.order_by(schema.spec(name).keys)
        df = t.to_pandas()
        for c in df.columns:
            if isinstance(df[c].dtype, pd.DatetimeTZDtype):
                df[c] = df[c].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        return df

    def count(self, name: str) -> int:
        """Number of rows in a table."""
        self.table(name)  # a clear error for an unknown table
        return int(self.execute(f"SELECT count(*) FROM {q(name)}")[0][0])

    # ------------------------------------------------------------------ writes
    def _check_tables(self, tables: Sequence[str]) -> None:
        unknown = [t for t in tables if t not in schema.TABLES]
        if unknown:
            raise UnknownTableError(
                f"unknown table(s) {', '.join(unknown)}; canonical tables: {', '.join(schema.TABLES)}"
            )

    def _check_ingestable(self, tables: Sequence[str]) -> None:
        self._check_tables(tables)
        check_ingestable(tables)

    def ingest(
        self, frames: Mapping[str, pd.DataFrame], *, source: str = "<DataFrame>", validate: bool = True
    ) -> IngestReport:
        """Validate and upsert canonical frames in **one** transaction.

        Parameters
        ----------
        frames : mapping of table name to DataFrame
            E.g. ``{"sites": sites, "observations": obs}``.
        source : str
            File name used in error messages and in the report.
        validate : bool
            Run the checks (default). ``False`` for frames :func:`coreduce.schema.validate` already returned:
            they are still typed and their keys checked for duplicates.

        Returns
        -------
        IngestReport
            Rows read, inserted, matched and changed per table (re-ingesting the same data inserts 0).

        Raises
        ------
        coreduce.errors.InputErrors
            Every problem found in every frame (first 50 listed); nothing is written.
        coreduce.errors.StoreError
            An unknown table, or ``ledger`` / ``claims`` (only the ledger writes them).
        """
        self._check_ingestable(list(frames))
        report = IngestReport(source)
        if len(frames) == 1 and not self._depth:  # one small frame of clean values (a stream's batch): no staging
            ((t, df),) = frames.items()
            if df is not None and len(df) and "locator" not in df.attrs:
                self._b.begin()
                try:
                    res = self._b.upsert_frame_strict(df, schema.spec(t), checks=schema.checks_for(t) if validate
                                                      else ())  # fmt: skip
                except BaseException:
                    self._b.rollback()
                    raise
                if res is not None:
                    self._b.commit()
                    report.rows[t], report.inserted[t], report.changed[t] = res[0], res[1], 0
                    return report
                self._b.rollback()
        with self.transaction(), self._b.staging() as con:
            staged: dict[str, engine.Staged] = {}
            errors: list[InputError] = []
            count = 0
            try:
                for t in schema.write_order(list(frames)):
                    df = frames[t]
                    if not validate and df is not None and len(df) == 0:  # canonical and empty: nothing to write
                        report.rows[t] = report.inserted[t] = report.changed[t] = 0
                        continue
                    try:
                        staged[t] = schema.stage_frame(
                            con, df, t, source=source, locator=df.attrs.get("locator") if df is not None else None,
                            validate=validate, extra_rules=tuple(self._b.extra_rules(schema.spec(t))),
                        )  # fmt: skip
                    except InputErrors as exc:
                        errors += exc.errors
                        count += exc.count
                if errors:
                    raise InputErrors(errors, count)
                for t, st in staged.items():
                    report.rows[t] = st.rows
                    report.inserted[t], report.changed[t] = self._b.write(st)
            finally:
                for st in staged.values():
                    st.drop()
        return report

    def ingest_csv(self, path: str | Path, table: str, *, source: str | None = None) -> IngestReport:
        """Read, validate and upsert one CSV file into ``table`` in one transaction (the fast path).

        DuckDB reads the file (every field as text, the header as written), types and checks it with SQL in
        a staging table, and the backend upserts from there: no row passes through Python.  Errors as
        :meth:`ingest` (lines of the file, blank lines counted); nothing is written on any error.
        """
        from coreduce.ingest.files import CsvLocator, check_regular_file, csv_first_row, csv_relation, raise_rejects

        self._check_ingestable([table])
        p = check_regular_file(path)
        src = source or str(path)
        rel, header = csv_relation(p)
        sp = schema.spec(table)
        report = IngestReport(src)
        if not self._depth:  # optimistic first (clean input into an empty table), in a transaction of its own
            self._b.begin()
            try:
                res = self._b.upsert_csv_strict(
                    rel,
                    sp,
                    source=src,
                    after_load=lambda: raise_rejects(self._b.raw, src, header, table),
                    sample=csv_first_row(p, header),
                )
            except BaseException:
                self._b.rollback()
                raise
            if res is not None:
                self._b.commit()
                report.rows[table], report.inserted[table], report.changed[table] = res
                return report
            self._b.rollback()
        with self.transaction(), self._b.staging() as con:
            try:
                st = engine.stage(
                    con, rel, sp, source=src, locator=CsvLocator(p, header), checks=schema.checks_for(table),
                    extra_rules=self._b.extra_rules(sp), after_load=lambda: raise_rejects(con, src, header, table),
                )  # fmt: skip
            except CoreduceError:
                raise
            except Exception as exc:  # the reader itself failed (compression, I/O)
                raise InputError(src, f"a readable CSV file ({str(exc).splitlines()[0]})", table=table) from None
            try:
                report.rows[table] = st.rows
                report.inserted[table], report.changed[table] = self._b.write(st)
            finally:
                st.drop()
        return report

    def drop_all(self) -> None:
        """Drop every table (tests and ``--fresh`` workspaces)."""
        with self.transaction():
            for t in self._b.list_tables():
                self._b.drop_table(t)


class Tx:
    """Statements inside one transaction (what :meth:`Store.transaction` yields)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run one statement with ``?`` parameter markers and return its rows (if any)."""
        return self.store._b.execute(sql, params)

    def lock(self, table: str) -> None:
        """Hold an exclusive append lock on ``table`` until the transaction ends (PostgreSQL
        ``LOCK TABLE … IN EXCLUSIVE MODE``; DuckDB has a single writer and needs none)."""
        self.store._b.lock(table)

    def upsert(self, table: str, df: pd.DataFrame) -> tuple[int, int]:
        """Upsert a canonical frame on the table's key; return (inserted, updated), updated = rows whose key
        was already stored.  The frame is typed and its keys checked for duplicates (not re-validated)."""
        self.store._check_tables([table])
        if df is not None and len(df) == 0:
            return 0, 0
        b = self.store._b
        n = b.load_frame_strict(df, schema.spec(table))
        if n is not None:
            return n, 0
        with b.staging() as con:
            st = schema.stage_frame(
                con, df, table, validate=False, extra_rules=tuple(b.extra_rules(schema.spec(table)))
            )
            try:
                inserted, _ = b.write(st)
            finally:
                st.drop()
        return inserted, st.rows - inserted

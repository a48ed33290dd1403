"""One storage interface over two real backends: an embedded DuckDB file and PostgreSQL.

Queries go through Ibis (one expression API that also compiles for PySpark), writes through the
backend's own DB-API connection so that each ingest is **one transaction** and **idempotent**: rows are
upserted on the canonical table's key (``INSERT … ON CONFLICT (key) DO UPDATE``), so re-ingesting the
same file changes nothing, and a file that fails validation writes nothing at all.

Examples
--------
>>> from coreduce.store import Store
>>> store = Store("workspace.duckdb")                          # embedded default  # doctest: +SKIP
>>> store = Store("postgresql://postgres@127.0.0.1:5432/test")  # multi-user service  # doctest: +SKIP
>>> store.ingest({"activity": activity_df}, source="activity.csv")  # doctest: +SKIP
>>> store.table("inventory").group_by("sector").aggregate(t=lambda t: t.amount.sum())  # doctest: +SKIP
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import ibis
import pandas as pd

from coreduce import schema
from coreduce.errors import CoreduceError, StoreError

Backend = Literal["duckdb", "postgres"]
_SQL_TYPES = {"string": "TEXT", "float": "DOUBLE PRECISION", "int": "BIGINT", "timestamp": "TIMESTAMPTZ"}
# Order in which tables of one ingest are written (sites before the observations that name them).
_WRITE_ORDER = ("sites", "emission_factors", "activity", "observations", "inventory")


@dataclass
class IngestReport:
    """What one ingest did: rows read, rows new, rows matched on key, per table."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)

    @property
    def matched(self) -> dict[str, int]:
        return {t: self.rows[t] - self.inserted.get(t, 0) for t in self.rows}

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows": self.rows, "inserted": self.inserted, "matched": self.matched}


def parse_url(url: str | Path) -> tuple[Backend, dict[str, Any]]:
    """Split a store URL into backend and connection arguments.

    Accepted: a path (``ws.duckdb``), ``duckdb:///path/ws.duckdb``, ``duckdb://:memory:``, ``:memory:``,
    ``postgresql://user[:password]@host[:port]/database`` (``postgres://`` too).
    """
    s = str(url)
    if s in (":memory:", "duckdb://:memory:", "duckdb://"):
        return "duckdb", {"database": ":memory:"}
    if s.startswith(("postgresql://", "postgres://")):
        u = urlparse(s)
        if not u.path.strip("/"):
            raise StoreError(f"store URL {s!r}: expected postgresql://user@host:port/database (no database given)")
        args: dict[str, Any] = {
            "host": u.hostname or "127.0.0.1",
            "port": u.port or 5432,
            "user": unquote(u.username) if u.username else "postgres",
            "database": u.path.strip("/"),
        }
        if u.password:
            args["password"] = unquote(u.password)
        return "postgres", args
    if s.startswith("duckdb://"):
        s = s[len("duckdb://") :]
        s = s[1:] if s.startswith("//") else s
    if "://" in s:
        raise StoreError(f"store URL {url!r}: expected a .duckdb path, duckdb:///path or postgresql://…")
    return "duckdb", {"database": s}


def ddl(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for a canonical table, portable between DuckDB and PostgreSQL."""
    sp = schema.spec(table)
    cols = [f"{_q(c.name)} {_SQL_TYPES[c.type]}{' NOT NULL' if (c.required or c.key) else ''}" for c in sp.columns]
    cols.append(f"PRIMARY KEY ({', '.join(_q(k) for k in sp.keys)})")
    return f"CREATE TABLE IF NOT EXISTS {_q(table)} (\n  " + ",\n  ".join(cols) + "\n)"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """A coreduce workspace: the canonical tables in DuckDB (default) or PostgreSQL.

    Parameters
    ----------
    url : str or pathlib.Path
        ``"coreduce.duckdb"`` (default, embedded, zero set-up), ``":memory:"`` or
        ``"postgresql://postgres@127.0.0.1:5432/test"``.
    create : bool
        Create the canonical tables if they do not exist (default True).
    """

    def __init__(self, url: str | Path = "coreduce.duckdb", *, create: bool = True) -> None:
        self.url = str(url)
        self.backend, args = parse_url(url)
        try:
            if self.backend == "duckdb":
                if args["database"] != ":memory:":
                    Path(args["database"]).parent.mkdir(parents=True, exist_ok=True)
                self.con = ibis.duckdb.connect(**args)
                self.raw = self.con.con
                # date_trunc on TIMESTAMPTZ follows the session time zone: pin it to UTC
                self.raw.execute("SET TimeZone = 'UTC'")
            else:
                self.con = ibis.postgres.connect(**args)
                self.raw = self.con.con
                self.raw.execute("SET TIME ZONE 'UTC'")
        except CoreduceError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot open store {self.url!r}: {str(exc).splitlines()[0]}") from exc
        if create:
            self.create_tables()

    # ------------------------------------------------------------------ basics
    def __repr__(self) -> str:
        return f"Store({self.url!r}, backend={self.backend!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        try:
            self.con.disconnect()
        except Exception:  # already closed
            pass

    def create_tables(self, tables: Sequence[str] = schema.TABLES) -> None:
        """Create the canonical tables (idempotent)."""
        with self.transaction() as tx:
            for t in tables:
                tx.execute(ddl(t))

    def _sql(self, sql: str) -> str:
        """Portable parameter markers: write ``?``; PostgreSQL gets ``%s``."""
        return sql if self.backend == "duckdb" else re.sub(r"\?", "%s", sql)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run one statement (``?`` parameter markers) outside a transaction and return its rows (if any)."""
        with self.transaction() as tx:
            return tx.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """All statements inside the block commit together or not at all."""
        if self.backend == "duckdb":
            self.raw.execute("BEGIN TRANSACTION")
            try:
                yield _Tx(self)
            except BaseException:
                self.raw.execute("ROLLBACK")
                raise
            self.raw.execute("COMMIT")
        else:
            with self.raw.transaction():
                yield _Tx(self)

    # ------------------------------------------------------------------ reads
    def tables(self) -> list[str]:
        """Names of the tables in the store."""
        return sorted(self.con.list_tables())

    def table(self, name: str) -> ibis.Table:
        """An Ibis table expression over a stored table (lazy; compiles to the backend's SQL)."""
        if name not in self.con.list_tables():
            raise StoreError(f"store {self.url!r} has no table {name!r} (has: {', '.join(self.tables())})")
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
        return int(self.execute(f"SELECT count(*) FROM {_q(name)}")[0][0])

    # ------------------------------------------------------------------ writes
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
            Validate each frame first (default). Pass ``False`` only for frames that
            :func:`coreduce.schema.validate` already returned.

        Returns
        -------
        IngestReport
            Rows read and rows newly inserted per table (re-ingesting the same data inserts 0).

        Raises
        ------
        coreduce.errors.InputError
            On the first invalid value; nothing is written.
        """
        unknown = [t for t in frames if t not in schema.TABLES]
        if unknown:
            raise StoreError(f"unknown table(s) {', '.join(unknown)}; canonical tables: {', '.join(schema.TABLES)}")
        clean = {t: (schema.validate(df, t, source=source) if validate else df) for t, df in frames.items()}
        report = IngestReport(source)
        with self.transaction() as tx:
            for t in _WRITE_ORDER:
                if t not in clean:
                    continue
                before = int(tx.execute(f"SELECT count(*) FROM {_q(t)}")[0][0])
                tx.upsert(t, clean[t])
                after = int(tx.execute(f"SELECT count(*) FROM {_q(t)}")[0][0])
                report.rows[t] = len(clean[t])
                report.inserted[t] = after - before
        return report

    def drop_all(self) -> None:
        """Drop every table (tests and ``--fresh`` workspaces)."""
        with self.transaction() as tx:
            for t in self.tables():
                tx.execute(
                    f"DROP TABLE IF EXISTS {_q(t)} CASCADE"
                    if self.backend == "postgres"
                    else f"DROP TABLE IF EXISTS {_q(t)}"
                )


class _Tx:
    """Statements inside one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        s = self.store
        if s.backend == "duckdb":
            cur = s.raw.execute(sql, params) if params is not None else s.raw.execute(sql)
            try:
                return cur.fetchall()
            except Exception:  # statements without a result set
                return []
        with s.raw.cursor() as cur:
            cur.execute(s._sql(sql), params)
            return cur.fetchall() if cur.description else []

    def upsert(self, table: str, df: pd.DataFrame) -> None:
        """``INSERT … ON CONFLICT (key) DO UPDATE`` of a canonical frame."""
        sp = schema.spec(table)
        cols = sp.names
        collist = ", ".join(_q(c) for c in cols)
        updates = ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in cols if c not in sp.keys)
        conflict = f"ON CONFLICT ({', '.join(_q(k) for k in sp.keys)}) DO UPDATE SET {updates}"
        s = self.store
        if s.backend == "duckdb":
            s.raw.register("_coreduce_stage", df[cols])
            try:
                s.raw.execute(f"INSERT INTO {_q(table)} ({collist}) SELECT {collist} FROM _coreduce_stage {conflict}")
            finally:
                s.raw.unregister("_coreduce_stage")
            return
        with s.raw.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE _coreduce_stage (LIKE {_q(table)}) ON COMMIT DROP")
            with cur.copy(f"COPY _coreduce_stage ({collist}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp:
                for start in range(0, len(df), 200_000):
                    buf = io.StringIO()
                    df[cols].iloc[start : start + 200_000].to_csv(
                        buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%dT%H:%M:%S.%f%z"
                    )
                    cp.write(buf.getvalue())
            cur.execute(f"INSERT INTO {_q(table)} ({collist}) SELECT {collist} FROM _coreduce_stage {conflict}")
            cur.execute("DROP TABLE _coreduce_stage")

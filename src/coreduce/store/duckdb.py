"""The embedded default: a DuckDB file (or ``:memory:``).

- No network: the database is opened with ``autoinstall_known_extensions=false`` and
  ``autoload_known_extensions=false``, and only local paths are accepted (``md:…``, ``s3://…``,
  ``http://…`` are refused), so a store URL can never make DuckDB download or attach anything.
- One writer: DuckDB locks the file for one process.  Opening waits for the lock, retrying for up to
  ``$COREDUCE_LOCK_TIMEOUT`` seconds (default 30), then fails with one line naming the file.
- Canonical tables carry no primary-key index here: uniqueness of the key is checked by the ingest (a
  duplicate key in the input is an error; a stored key is updated, not inserted), which writes a bulk load at
  the speed of a plain ``INSERT`` instead of building an ART index row by row.  Upserts are an anti-join
  ``INSERT`` plus an ``UPDATE … FROM`` of the rows whose values changed; both statements report their counts.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
import pyarrow.compute as pc

from coreduce import schema
from coreduce.errors import StoreError
from coreduce.schema import engine
from coreduce.schema.engine import q
from coreduce.store.base import Backend, ddl, mask_url, register

_DUCK_TYPES = {"string": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "timestamp": "TIMESTAMPTZ",
               "bool": "BOOLEAN", "json": "VARCHAR"}  # fmt: skip
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_SEQ = itertools.count()
#: rows per Arrow batch handed to DuckDB (its row-group size)
_BATCH_ROWS = 122_880


def lock_timeout() -> float:
    """Seconds to wait for another process's lock on a DuckDB file (``$COREDUCE_LOCK_TIMEOUT``, default 30)."""
    try:
        return max(0.0, float(os.environ.get("COREDUCE_LOCK_TIMEOUT", "30")))
    except ValueError:
        return 30.0


def connect(database: str, *, timeout: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB database without network access, waiting for another process's file lock."""
    timeout = lock_timeout() if timeout is None else timeout
    start = time.monotonic()
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(database, config=dict(CONFIG))
            # DuckDB prints a progress bar to stdout for queries over 2 s (into `--json` output): off
            con.execute("SET enable_progress_bar = false")
            return con
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" not in msg.lower():
                raise
            waited = time.monotonic() - start
            if waited >= timeout:
                holder = re.search(r"PID (\d+)", msg)
                who = f"process {holder.group(1)}" if holder else "another process"
                raise StoreError(
                    f"store {database!r} is locked by {who} (a DuckDB file has one writer at a time); waited "
                    f"{waited:.0f} s — try again when it finishes, or set COREDUCE_LOCK_TIMEOUT to wait longer"
                ) from None
            time.sleep(min(delay, max(0.0, timeout - waited)))
            delay = min(delay * 2, 1.0)


def _decoded(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded text column as plain text with 64-bit offsets (other columns unchanged).

    No longer used by :meth:`DuckDBBackend.load_frame_strict`, which hands the dictionaries to DuckDB as they
    are (kept for callers that need a plain text column)."""
    if not pa.types.is_dictionary(col.type) or not pa.types.is_string(col.type.value_type):
        return col
    chunks = [pc.take(ch.dictionary.cast(pa.large_string()), ch.indices) for ch in col.chunks]
    return pa.chunked_array(chunks, pa.large_string())


@ibis.udf.scalar.builtin(name="epoch_us")
def _epoch_us(a: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's ``epoch_us``: microseconds since 1970-01-01 UTC, plain integer arithmetic."""


@ibis.udf.scalar.builtin(name="divide")
def _idiv(a: dt.int64, b: dt.int64) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's integer division ``divide(a, b)`` (floor for non-negative ``a``)."""


@register
class DuckDBBackend(Backend):
    """DuckDB: an embedded file (default store) or an in-memory database."""

    name = "duckdb"
    priority = 1000  # the catch-all for plain paths: tried last
    code_point_order = True  # binary collation

    @classmethod
    def drop_in_memory_table(cls, con: Any, name: str) -> None:
        con.con.unregister(name)  # Ibis registers a memtable as a view over Arrow data

    @classmethod
    def epoch_bucket(cls, ts: Any, width_us: int) -> Any:
        # integer arithmetic on the epoch avoids DuckDB's per-row ICU calendar work on TIMESTAMPTZ
        return _idiv(_epoch_us(ts), ibis.literal(width_us, type="int64"))

    def __init__(self, url: str, args: dict[str, Any]) -> None:
        super().__init__(url, args)
        db = args["database"]
        if db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        self.raw = connect(db)
        try:
            # date_trunc on TIMESTAMPTZ follows the session time zone: pin it to UTC
            self.raw.execute("SET TimeZone = 'UTC'")
            self.con = ibis.duckdb.from_connection(self.raw)
        except BaseException:
            self.raw.close()
            raise

    @classmethod
    def parse(cls, url: str) -> dict[str, Any] | None:
        s = url
        if s in (":memory:", "duckdb://:memory:", "duckdb://", "duckdb:///:memory:"):
            return {"database": ":memory:"}
        if s.startswith("duckdb://"):
            s = s[len("duckdb://") :]
            s = s[1:] if s.startswith("//") else s
        # any scheme (md:, motherduck:, s3://, http://, …) would reach beyond a local file: refuse
        if "://" in s or (_SCHEME.match(s) and not re.match(r"^[A-Za-z]:[\\/]", s)):
            raise StoreError(
                f"store URL {mask_url(url)!r}: expected a .duckdb path, duckdb:///path or postgresql://… "
                "(other schemes such as md: or s3:// are not supported: the store never reaches the network)"
            )
        if not s:
            raise StoreError(f"store URL {url!r}: no file given")
        return {"database": s}

    @classmethod
    def exists(cls, args: dict[str, Any]) -> bool:
        return args["database"] == ":memory:" or Path(args["database"]).exists()

    # -- transactions
    def begin(self) -> None:
        self.raw.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        cur = self.raw.execute(sql, params) if params is not None else self.raw.execute(sql)
        try:
            return cur.fetchall()
        except duckdb.InvalidInputException:  # statements without a result set
            return []

    # -- schema
    def ddl(self, table: str) -> str:
        return ddl(table, primary_key=False, types=_DUCK_TYPES)

    # -- writes
    @contextmanager
    def staging(self) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self.raw

    def load_csv_strict(
        self, rel: str, spec: schema.TableSpec, *, source: str, after_load: Any, sample: dict[str, str] | None = None
    ) -> int | None:
        if int(self.raw.execute(f"SELECT count(*) FROM {q(spec.name)}").fetchone()[0]):
            return None
        return engine.load_strict(
            self.raw, rel, spec, spec.name, source=source, checks=schema.checks_for(spec.name),
            extra_rules=self.extra_rules(spec), after_load=after_load, normalise=schema.normalisers_for(spec.name),
            sample=sample,
        )  # fmt: skip

    def upsert_csv_strict(
        self, rel: str, spec: schema.TableSpec, *, source: str, after_load: Any, sample: dict[str, str] | None = None
    ) -> tuple[int, int, int] | None:
        if not int(self.raw.execute(f"SELECT count(*) FROM {q(spec.name)}").fetchone()[0]):
            n = self.load_csv_strict(rel, spec, source=source, after_load=after_load, sample=sample)
            return None if n is None else (n, n, 0)
        # a table with rows: the same optimistic load into a temporary table of the same columns, then the upsert
        name = f"__coreduce_strict_{next(_SEQ)}"
        self.raw.execute(f"CREATE TEMP TABLE {q(name)} AS SELECT * FROM {q(spec.name)} LIMIT 0")
        try:
            n = engine.load_strict(
                self.raw, rel, spec, name, source=source, checks=schema.checks_for(spec.name),
                extra_rules=self.extra_rules(spec), after_load=after_load,
                normalise=schema.normalisers_for(spec.name), sample=sample,
            )  # fmt: skip
            if n is None:
                return None
            inserted, changed = self.write(engine.Staged(self.raw, name, spec.name, n, [q(c) for c in spec.names]))
            return n, inserted, changed
        finally:
            try:
                self.raw.execute(f"DROP TABLE IF EXISTS {q(name)}")
            except duckdb.Error:  # the transaction failed (the caller rolls it back, which drops the table)
                pass

    def load_frame_strict(self, df: Any, spec: schema.TableSpec) -> int | None:
        names = [str(c) for c in df.columns]
        if len(df) == 0 or not names or len(set(names)) != len(names):
            return None  # the careful path names the problem
        if int(self.raw.execute(f"SELECT count(*) FROM {q(spec.name)}").fetchone()[0]):
            return None
        tbl = schema._scannable(df)  # the index plays no part (no reset_index: a copy of every column)
        if not isinstance(tbl, pa.Table):  # mixed Python objects: the careful path reads them as text
            return None
        # text columns stay dictionaries: each distinct value is trimmed, defaulted and checked once (a detail
        # inventory repeats a few dozen long citations over millions of rows), and the key is proved unique on
        # integer codes; DuckDB then scans the dictionaries without a per-row copy of the text
        typed = engine.check_distinct_text(self.raw, tbl, spec)
        if typed is None:
            return None  # some value breaks a rule: the careful path reports it with its row
        tbl, checked = typed
        keys_unique = engine.unique_key_codes(tbl, spec, checked)
        if keys_unique is False:
            return None  # a repeated key: the careful path names both rows
        # in batches of a row group: DuckDB scans (and compresses) batches in parallel, a single one on one thread
        tbl = pa.Table.from_batches(tbl.to_batches(max_chunksize=_BATCH_ROWS), tbl.schema)
        view = f"__coreduce_frame_{next(_SEQ)}"
        self.raw.register(view, tbl)
        try:
            return engine.insert_checked(
                self.raw, q(view), spec, spec.name, source="<DataFrame>", extra_rules=self.extra_rules(spec),
                checked=checked, keys_unique=bool(keys_unique),
            )  # fmt: skip
        finally:
            self.raw.unregister(view)

    def upsert_frame_strict(
        self, df: Any, spec: schema.TableSpec, *, checks: Sequence[Any] = ()
    ) -> tuple[int, int] | None:
        """A small frame of clean canonical values upserted without a staging copy (:func:`engine.upsert_checked`):
        ``(rows, inserted)``, or None — nothing written — when the careful path must stage it."""
        names = [str(c) for c in df.columns]
        if not 0 < len(df) <= _BATCH_ROWS or len(set(names)) != len(names):
            return None
        tbl = schema._scannable(df)
        if not isinstance(tbl, pa.Table):
            return None
        checked = engine.clean_text_columns(tbl, spec)
        if checked is None:
            return None
        keys_unique = engine.unique_key_codes(tbl, spec, checked)
        if keys_unique is False:
            return None
        view = f"__coreduce_frame_{next(_SEQ)}"
        self.raw.register(view, tbl)
        try:
            return engine.upsert_checked(
                self.raw, view, spec, spec.name, source="<DataFrame>", checks=checks,
                extra_rules=self.extra_rules(spec), checked=checked, keys_unique=bool(keys_unique),
            )  # fmt: skip
        finally:
            self.raw.unregister(view)

    def write(self, staged: engine.Staged) -> tuple[int, int]:
        sp = schema.spec(staged.table)
        t = q(staged.table)
        cols = ", ".join(q(c) for c in sp.names)
        keys = sp.keys
        non_keys = [c for c in sp.names if c not in keys]
        stored = int(self.raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
        if stored == 0:  # a fresh table: one plain INSERT (the input's keys were checked unique)
            return self._count(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM ({staged.select_sql(order=False)})"), 0
        # one join decides, per staged row, whether its key is stored (drow) and whether its values differ;
        # then only the changed rows are updated and only the new ones inserted (materialised only when some
        # rows changed: a pure re-ingest or a pure append needs no per-row table)
        src = f"(SELECT rowid AS __srow, {', '.join(staged.output)} FROM {q(staged.name)})"
        match = " AND ".join(f"d.{q(k)} = s.{q(k)}" for k in keys)
        differs = " OR ".join(f"d.{q(c)} IS DISTINCT FROM s.{q(c)}" for c in non_keys) or "FALSE"
        # first only count (one join, nothing materialised): a re-ingest of stored rows ends here
        n_new, n_chg = self.raw.execute(
            f"SELECT count(*) FILTER (WHERE d.rowid IS NULL), count(*) FILTER (WHERE d.rowid IS NOT NULL AND "
            f"({differs})) FROM {src} AS s LEFT JOIN {t} AS d ON {match}"
        ).fetchone()
        if not n_chg:  # nothing to update: the new rows (if any) by one anti-join INSERT, nothing materialised
            if not n_new:
                return 0, 0
            return self._count(
                f"INSERT INTO {t} ({cols}) SELECT {', '.join('s.' + q(c) for c in sp.names)} FROM {src} AS s "
                f"ANTI JOIN {t} AS d ON {match}"
            ), 0
        m = q(f"__match_{staged.name}")
        self.raw.execute(
            f"CREATE OR REPLACE TEMP TABLE {m} AS SELECT s.__srow AS srow, d.rowid AS drow, "
            f"(d.rowid IS NOT NULL AND ({differs})) AS chg FROM {src} AS s LEFT JOIN {t} AS d ON {match}"
        )
        try:
            n_new, n_chg = self.raw.execute(
                f"SELECT count(*) FILTER (WHERE drow IS NULL), count(*) FILTER (WHERE chg) FROM {m}"
            ).fetchone()
            changed = inserted = 0
            if n_chg:
                sets = ", ".join(f"{q(c)} = u.{q(c)}" for c in non_keys)
                changed = self._count(
                    f"UPDATE {t} AS d SET {sets} FROM (SELECT s.*, m.drow FROM {src} AS s JOIN {m} AS m "
                    f"ON s.__srow = m.srow WHERE m.chg) AS u WHERE d.rowid = u.drow"
                )
            if n_new:
                inserted = self._count(
                    f"INSERT INTO {t} ({cols}) SELECT {', '.join('s.' + q(c) for c in sp.names)} FROM {src} AS s "
                    f"JOIN {m} AS m ON s.__srow = m.srow WHERE m.drow IS NULL"
                )
        finally:
            self.raw.execute(f"DROP TABLE IF EXISTS {m}")
        return inserted, changed

    def _count(self, sql: str) -> int:
        row = self.raw.execute(sql).fetchone()
        return int(row[0]) if row else 0

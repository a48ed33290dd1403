"""PostgreSQL: the multi-user store.

- The URL is handed to libpq as written (``psycopg.connect(url)``), so every libpq parameter is honoured:
  ``?sslmode=require`` / ``verify-full`` / ``sslrootcert=…`` (a server without TLS is refused, never used in
  plain text), ``?host=/var/run/postgresql`` (Unix socket), ``connect_timeout``, ``application_name`` …
  Messages show the URL with the password masked.
- Rows are typed and checked in a private DuckDB (bounded memory: it spills to a temporary directory), then
  streamed to the server with ``COPY`` in batches into a temporary table and upserted with
  ``INSERT … ON CONFLICT … DO UPDATE … RETURNING (xmax = 0)``: inserted and changed rows are counted by the
  statement itself.
- ``create_tables`` holds a transaction-scoped advisory lock, so any number of processes can make first use
  of an empty database at once.
- Index keys: a B-tree entry holds at most about 2.7 kB; key text longer than :data:`MAX_KEY_BYTES` is an
  input error naming the row instead of a ``ProgramLimitExceeded`` from the server.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

import ibis
import pyarrow as pa
import pyarrow.csv as pacsv

from coreduce import schema
from coreduce.errors import StoreError
from coreduce.schema import engine
from coreduce.schema.engine import Rule, q
from coreduce.store.base import Backend, mask_url, register

#: Bytes of key text per row that PostgreSQL's B-tree index accepts with room to spare (the hard limit is
#: about 2,704 bytes per index entry, all key columns together: "index row size exceeds btree version 4
#: maximum 2704", PostgreSQL 15 source, ``src/backend/access/nbtree/nbtutils.c``).
MAX_KEY_BYTES = 2600
_LOCK_KEY = 0x636F726564  # advisory-lock id of schema creation ("cored")
_BATCH = 200_000


@register
class PostgresBackend(Backend):
    """PostgreSQL through psycopg 3 (writes) and Ibis (reads)."""

    name = "postgres"
    priority = 10

    def __init__(self, url: str, args: dict[str, Any]) -> None:
        import psycopg

        super().__init__(url, args)
        self.raw = psycopg.connect(args["conninfo"], autocommit=True)
        try:
            self.raw.execute("SET TIME ZONE 'UTC'")
            self.con = ibis.postgres.from_connection(self.raw)
        except BaseException:
            self.raw.close()
            raise
        self._tx: Any = None

    @classmethod
    def parse(cls, url: str) -> dict[str, Any] | None:
        if not url.startswith(("postgresql://", "postgres://")):
            return None
        u = urlparse(url)
        qs = parse_qs(u.query)
        if not u.path.strip("/") and "dbname" not in qs:
            raise StoreError(
                f"store URL {mask_url(url)!r}: expected postgresql://user@host:port/database (no database given)"
            )
        return {"conninfo": url}

    # -- transactions
    def begin(self) -> None:
        self._tx = self.raw.transaction()
        self._tx.__enter__()

    def commit(self) -> None:
        tx, self._tx = self._tx, None
        tx.__exit__(None, None, None)

    def rollback(self) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            err = RuntimeError("rollback")
            try:
                tx.__exit__(type(err), err, None)
            except RuntimeError:
                pass

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.raw.cursor() as cur:
            cur.execute(re.sub(r"\?", "%s", sql) if params is not None else sql, params)
            return cur.fetchall() if cur.description else []

    def lock(self, table: str) -> None:
        self.execute(f"LOCK TABLE {q(table)} IN EXCLUSIVE MODE")

    # -- schema
    def create_tables(self, tables: Sequence[str]) -> None:
        # CREATE TABLE IF NOT EXISTS is not race-free (two sessions both insert the type row and one gets a
        # UniqueViolation): serialise schema creation across sessions for this transaction
        self.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        super().create_tables(tables)

    def drop_table(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {q(name)} CASCADE")

    # -- writes
    @contextmanager
    def staging(self) -> Iterator[Any]:
        yield schema.shared_connection()

    def extra_rules(self, spec: schema.TableSpec) -> list[Rule]:
        text_keys = [c.name for c in spec.columns if c.key and c.type in ("string", "json")]
        if not text_keys:
            return []
        total = " + ".join(f"coalesce(strlen({q(c)}), 0)" for c in text_keys)
        return [
            Rule(
                text_keys[0] if len(text_keys) == 1 else None,
                f"({total}) > {MAX_KEY_BYTES}",
                f"key text ({', '.join(text_keys)}) of at most {MAX_KEY_BYTES} bytes together (PostgreSQL's "
                "index limit)",
                value_sql=f"CAST(({total}) AS VARCHAR) || ' bytes of key text'",
            )
        ]

    def write(self, staged: engine.Staged) -> tuple[int, int]:
        sp = schema.spec(staged.table)
        cols = sp.names
        collist = ", ".join(q(c) for c in cols)
        keys = sp.keys
        non_keys = [c for c in cols if c not in keys]
        # text for COPY: timestamps as ISO 8601 with offset, numbers as DuckDB's shortest round-trip text
        exprs = []
        for c in sp.columns:
            if c.type == "timestamp":
                exprs.append(f"strftime({q(c.name)}, '%Y-%m-%dT%H:%M:%S.%f+00') AS {q(c.name)}")
            else:
                exprs.append(f"CAST({q(c.name)} AS VARCHAR) AS {q(c.name)}")
        sel = f"SELECT {', '.join(exprs)} FROM ({staged.select_sql(order=False)})"
        reader = staged.con.execute(sel).to_arrow_reader(_BATCH)
        stage = "_coreduce_stage"
        with self.raw.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE {stage} (LIKE {q(staged.table)}) ON COMMIT DROP")
            opts = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            with cur.copy(f"COPY {stage} ({collist}) FROM STDIN WITH (FORMAT csv)") as cp:
                for batch in reader:
                    buf = io.BytesIO()
                    pacsv.write_csv(pa.Table.from_batches([batch]), buf, write_options=opts)
                    cp.write(buf.getvalue())
            if non_keys:
                sets = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in non_keys)
                old = ", ".join(f"{q(staged.table)}.{q(c)}" for c in non_keys)
                new = ", ".join(f"EXCLUDED.{q(c)}" for c in non_keys)
                action = f"DO UPDATE SET {sets} WHERE ROW({old}) IS DISTINCT FROM ROW({new})"
            else:
                action = "DO NOTHING"
            cur.execute(
                f"WITH w AS (INSERT INTO {q(staged.table)} ({collist}) SELECT {collist} FROM {stage} "
                f"ON CONFLICT ({', '.join(q(k) for k in keys)}) {action} RETURNING (xmax = 0) AS ins) "
                "SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM w"
            )
            inserted, changed = cur.fetchone()
            cur.execute(f"DROP TABLE {stage}")
        return int(inserted), int(changed)

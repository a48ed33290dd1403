"""Apache Spark: the scale-out store (``spark://local[2]``, ``spark://HOST:PORT``, or an existing session).

URLs
----
``spark://local[2]`` (also ``local``, ``local[*]``), ``spark://HOST:PORT`` (a standalone master), ``spark://yarn``,
or :func:`spark_url` for an existing ``SparkSession``.  Query parameters: ``warehouse=/path`` (default
``./coreduce-warehouse`` in the current directory) and any ``spark.*`` setting, e.g.
``spark://local[2]?warehouse=/data/wh&spark.driver.memory=4g``.  Spark settings apply when this process starts
the session (one per process: the JVM start is the cost); a store never stops the session.

Layout (the warehouse; a POSIX path every executor and the driver see — local disk, NFS, Lustre)
------------------------------------------------------------------------------------------------
- ``<warehouse>/<table>/__part=<p>/*.parquet``: a canonical table, Parquet (zstd), one directory per partition.
  ``p`` is the UTC month (``2024-01``) of the table's first timestamp key column (``observations.ts``,
  ``activity.period_start`` …), else ``all``; a key therefore always lives in one partition.
- ``<warehouse>/_coreduce.duckdb``: the ledger (``ledger``, ``claims``) — see below.
- ``<warehouse>/_tmp/<tx>/``, ``<warehouse>/_trash/<tx>/``: a transaction's new and replaced partitions.

Reads
-----
Through Ibis's PySpark backend: each canonical table is a temporary view over its Parquet directory (its own
``SparkSession.newSession()`` per store, so two warehouses in one process do not share view names).  The
timestamp columns are read as UTC instants (Spark's ``TIMESTAMP`` with the session time zone pinned to UTC), so
``Store.table(...)`` expressions — ``aggregate``, ``aggregate_observations`` — are the same Ibis code as on
DuckDB and PostgreSQL.  ``ORDER BY`` on text is binary (UTF-8 bytes = code points), as DuckDB's.

Writes (ingest, ``Tx.upsert``, a ledger run's outputs)
------------------------------------------------------
Rows are typed and checked in a private DuckDB exactly as for the other stores, then written as Parquet by
partition into ``_tmp/<tx>/``.  Partitions that exist already are merged **in Spark** (old rows whose key is not
in the new rows, plus the new rows), counting inserted and changed rows from a join; a re-ingest of the same
rows changes nothing and rewrites nothing.  Nothing touches the table until the commit, which swaps each new
partition directory in by ``rename`` (the replaced one goes to ``_trash/<tx>/``) and then commits the ledger;
if a rename or the ledger commit fails, the swaps are undone, so a failed ingest leaves no partial partition.
A process killed mid-commit leaves a journal (``_tmp/<tx>/journal.json``) that the next open of the warehouse
rolls back (a kill between the ledger commit and the journal's removal — one ``unlink`` — would roll back data
whose record was kept; the ledger then names outputs the warehouse lacks, and ``ledger reproduce`` restores them).

The ledger and raw SQL
----------------------
The ledger is an append-only, hash-chained table written under a lock with ``seq``/``prev_hash`` read in the same
transaction (:mod:`coreduce.ledger`): it needs a transactional SQL database, which Parquet files are not, and it is
small (one row per run).  So ``ledger`` and ``claims`` live in a DuckDB file beside the warehouse,
``_coreduce.duckdb``, committed together with the partition swaps.  Raw SQL (``Store.execute``, ``Tx.execute``:
the ledger, ``Store.count``, a few small look-ups) runs on that DuckDB, where the canonical tables are read-only
views over the same Parquet files.  Only Ibis expressions run on Spark; ``Store.table("ledger")`` hands Spark a
snapshot of the DuckDB table.  This is the backend's fallback, stated here so it is no surprise: the ledger is
not distributed, and the warehouse must be a filesystem the driver can read.

One writer: the DuckDB file is held by one process at a time (others wait ``$COREDUCE_LOCK_TIMEOUT`` s).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import ibis

from coreduce import schema
from coreduce.errors import StoreError
from coreduce.schema import engine
from coreduce.schema.engine import lit, q
from coreduce.store.base import Backend, ddl, mask_url, register

DEFAULT_WAREHOUSE = "coreduce-warehouse"
LEDGER_FILE = "_coreduce.duckdb"
PART = "__part"
#: Default driver memory for a session this process starts in local mode (the 50 M-row benchmark peaks at
#: about 3 GB of JVM + Python on 2 cores; raise it with ``?spark.driver.memory=``).
DEFAULT_DRIVER_MEMORY = "2g"
_MASTER = re.compile(r"^(local(\[(\d+|\*)\])?|yarn|[A-Za-z0-9_.-]+:\d+|session:[0-9a-f]+)$")
_SESSIONS: dict[str, Any] = {}  # spark_url(session) registry
_LOCK = threading.Lock()
_DUCK_TYPES = {"string": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "timestamp": "TIMESTAMPTZ",
               "bool": "BOOLEAN", "json": "VARCHAR"}  # fmt: skip


def spark_url(session: Any, warehouse: str | os.PathLike | None = None) -> str:
    """A store URL for an existing ``SparkSession``: ``Store(spark_url(spark, "/data/wh"))``."""
    key = uuid.uuid4().hex[:12]
    _SESSIONS[key] = session
    wh = Path(warehouse or DEFAULT_WAREHOUSE).resolve()
    return f"spark://session:{key}?warehouse={wh}"


def _spark_types(kind: str) -> Any:
    from pyspark.sql import types as T

    return {"string": T.StringType(), "float": T.DoubleType(), "int": T.LongType(), "timestamp": T.TimestampType(),
            "bool": T.BooleanType(), "json": T.StringType()}[kind]  # fmt: skip


def struct(table: str) -> Any:
    """The Spark schema of a canonical table's Parquet files (without the partition column)."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(c.name, _spark_types(c.type), True) for c in schema.spec(table).columns])


def part_column(table: str) -> str | None:
    """The column a table is partitioned on (its first timestamp key; by UTC month), or None (one partition)."""
    sp = schema.spec(table)
    return next((c.name for c in sp.columns if c.key and c.type == "timestamp"), None)


def session_for(master: str, conf: dict[str, str]) -> Any:
    """The process's SparkSession for ``master`` (started on first use with ``conf``)."""
    from pyspark.sql import SparkSession

    if master.startswith("session:"):
        try:
            return _SESSIONS[master.split(":", 1)[1]]
        except KeyError:
            raise StoreError(f"spark session {master!r} is not registered in this process (see spark_url)") from None
    from pyspark import SparkContext

    with _LOCK:
        sc = SparkContext._active_spark_context
        if sc is not None:
            if sc.master != master:
                raise StoreError(
                    f"a SparkContext with master {sc.master!r} is already running in this process; cannot start "
                    f"{master!r} (one SparkContext per process)"
                )
            return SparkSession.builder.getOrCreate()
        b = SparkSession.builder.master(master).appName("coreduce")
        settings = {
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.sql.files.maxRecordsPerFile": "5000000",
        }
        if master.startswith("local"):
            settings["spark.driver.memory"] = DEFAULT_DRIVER_MEMORY
            settings["spark.sql.shuffle.partitions"] = "8"  # the default 200 tasks cost more than they save on 2 cores
        settings.update(conf)
        for k, v in settings.items():
            b = b.config(k, v)
        s = b.getOrCreate()
        s.sparkContext.setLogLevel("ERROR")
        return s


def _spark_ibis_backend() -> type:
    """Ibis's PySpark backend, reading Spark ``TIMESTAMP`` columns as UTC instants (they are: the session time
    zone is UTC) so results carry ``datetime64[ns, UTC]`` as on DuckDB and PostgreSQL (ibis#11137)."""
    import ibis.expr.datatypes as dt
    import ibis.expr.schema as sch
    from ibis.backends.pyspark import Backend as PySparkIbis

    _ = ibis.pyspark  # loading the backend through ibis registers its options (ibis.options.pyspark)

    class CoreduceSpark(PySparkIbis):
        _coreduce: SparkBackend | None = None

        def get_schema(self, table_name: str, *, catalog: str | None = None, database: str | None = None):
            s = super().get_schema(table_name, catalog=catalog, database=database)
            utc = {n: dt.Timestamp(timezone="UTC", nullable=t.nullable) for n, t in s.items()
                   if t.is_timestamp() and t.timezone is None}  # fmt: skip
            return sch.Schema({n: utc.get(n, t) for n, t in s.items()})

        def table(self, name: str, /, *, database: Any = None) -> Any:
            if self._coreduce is not None and name in schema.LEDGER_TABLES:
                self._coreduce._snapshot_ledger_table(name)
            return super().table(name, database=database)

    return CoreduceSpark


@register
class SparkBackend(Backend):
    """Spark (local or a cluster): canonical tables as partitioned Parquet, the ledger in a DuckDB beside them."""

    name = "spark"
    priority = 20
    code_point_order = True  # Spark compares strings as UTF-8 bytes
    accounting_in_engine = True  # the account pipeline's activity × factor join runs in Spark
    ibis_name = "pyspark"

    @classmethod
    def drop_in_memory_table(cls, con: Any, name: str) -> None:
        con._session.catalog.dropTempView(name)  # Ibis registers a memtable as a temporary view

    def __init__(self, url: str, args: dict[str, Any]) -> None:
        from coreduce.extras import require
        from coreduce.store.duckdb import connect

        require("pyspark", "a Spark store")  # missing: one line naming coreduce[spark]
        super().__init__(url, args)
        self.warehouse = Path(args["warehouse"]).resolve()
        self.warehouse.mkdir(parents=True, exist_ok=True)
        self.raw = connect(str(self.warehouse / LEDGER_FILE))  # holds the warehouse's single-writer lock
        try:
            self.raw.execute("SET TimeZone = 'UTC'")
            self._recover()
            root = session_for(args["master"], args["conf"])
            self.session = root.newSession()  # own temporary views and SQL settings
            self.session.conf.set("spark.sql.session.timeZone", "UTC")
            self.con = _spark_ibis_backend()(self.session)
            self.con.reconnect()
            self.con._coreduce = self
            self._tx: str | None = None
            self._pending: dict[tuple[str, str], Path] = {}
            self._views: set[str] = set()
            for t in self._canonical_dirs():
                self._register(t)
        except BaseException:
            self.raw.close()
            raise

    # -- URL
    @classmethod
    def parse(cls, url: str) -> dict[str, Any] | None:
        if not url.startswith("spark://"):
            return None
        rest = url[len("spark://") :]
        master, _, query = rest.partition("?")
        if not _MASTER.match(master):
            raise StoreError(
                f"store URL {mask_url(url)!r}: expected spark://local[N], spark://HOST:PORT or spark://yarn "
                "(optionally ?warehouse=/path&spark.driver.memory=4g)"
            )
        if re.match(r"^[A-Za-z0-9_.-]+:\d+$", master):
            master = f"spark://{master}"
        conf, warehouse = {}, DEFAULT_WAREHOUSE
        for k, v in parse_qsl(query, keep_blank_values=True):
            if k == "warehouse":
                if "://" in v:
                    raise StoreError(
                        f"store URL {mask_url(url)!r}: warehouse {v!r} must be a filesystem path (shared by the "
                        "driver and every executor); object stores are not supported by this backend"
                    )
                warehouse = v
            elif k.startswith("spark."):
                conf[k] = v
            else:
                raise StoreError(f"store URL {mask_url(url)!r}: unknown parameter {k!r} (warehouse= or spark.*=)")
        return {"master": master, "warehouse": str(Path(warehouse).resolve()), "conf": conf}

    @classmethod
    def exists(cls, args: dict[str, Any]) -> bool:
        return (Path(args["warehouse"]) / LEDGER_FILE).exists()

    # -- paths
    def _dir(self, table: str) -> Path:
        return self.warehouse / table

    def _canonical_dirs(self) -> list[str]:
        return [t for t in schema.TABLES if t not in schema.LEDGER_TABLES and self._dir(t).is_dir()]

    def _parts(self, table: str) -> dict[str, Path]:
        d = self._dir(table)
        if not d.is_dir():
            return {}
        return {p.name.split("=", 1)[1]: p for p in d.iterdir() if p.is_dir() and p.name.startswith(f"{PART}=")}

    # -- transactions: the ledger's DuckDB transaction plus the pending partition swaps
    def begin(self) -> None:
        self._tx = uuid.uuid4().hex
        self._pending = {}
        self.raw.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        tx, pending = self._tx, self._pending
        self._tx, self._pending = None, {}
        done: list[tuple[Path, Path, Path | None]] = []  # (committed dir, new dir, where the old one went)
        journal = self.warehouse / "_tmp" / str(tx) / "journal.json"
        try:
            if pending:
                trash = self.warehouse / "_trash" / str(tx)
                swaps = []
                for (table, p), new in sorted(pending.items()):
                    swaps.append((self._dir(table) / f"{PART}={p}", new, trash / table / f"{PART}={p}"))
                journal.parent.mkdir(parents=True, exist_ok=True)
                journal.write_text(json.dumps([[str(a), str(b), str(c)] for a, b, c in swaps]))
                for target, new, old in swaps:
                    moved = None
                    if target.exists():
                        old.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(target, old)
                        moved = old
                    done.append((target, new, moved))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(new, target)
            self.raw.execute("COMMIT")
        except BaseException:
            self._undo(done)
            with contextlib.suppress(Exception):
                self.raw.execute("ROLLBACK")
            self._cleanup(tx)
            self._refresh({t for t, _ in pending})
            raise
        self._cleanup(tx)
        self._refresh({t for t, _ in pending})

    def rollback(self) -> None:
        tx, self._tx, self._pending = self._tx, None, {}
        try:
            self.raw.execute("ROLLBACK")
        finally:
            self._cleanup(tx)

    def _undo(self, done: list[tuple[Path, Path, Path | None]]) -> None:
        for target, new, moved in reversed(done):
            if target.exists() and not new.exists():
                os.replace(target, new)
            if moved is not None and moved.exists():
                os.replace(moved, target)

    def _cleanup(self, tx: str | None) -> None:
        if tx is not None:
            shutil.rmtree(self.warehouse / "_tmp" / tx, ignore_errors=True)
            shutil.rmtree(self.warehouse / "_trash" / tx, ignore_errors=True)

    def _recover(self) -> None:
        """Roll back a commit a killed process left half done (its journal is still there), drop leftovers."""
        tmp = self.warehouse / "_tmp"
        for tx in sorted(tmp.iterdir()) if tmp.is_dir() else []:
            journal = tx / "journal.json"
            if journal.exists():
                swaps = [tuple(Path(x) for x in s) for s in json.loads(journal.read_text())]
                for target, new, old in reversed(swaps):
                    if old.exists():  # the old partition was moved aside: put it back (drop the new one)
                        if target.exists():
                            shutil.rmtree(target)
                        os.replace(old, target)
                    elif target.exists() and not new.exists():
                        shutil.rmtree(target)  # a partition that did not exist before this commit
            self._cleanup(tx.name)
        shutil.rmtree(self.warehouse / "_trash", ignore_errors=True)

    # -- statements: the ledger's DuckDB (canonical tables are read-only views there)
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        import duckdb

        cur = self.raw.execute(sql, params) if params is not None else self.raw.execute(sql)
        try:
            return cur.fetchall()
        except duckdb.InvalidInputException:
            return []

    # -- schema
    def ddl(self, table: str) -> str:
        return ddl(table, primary_key=False, types=_DUCK_TYPES)

    def create_tables(self, tables: Sequence[str]) -> None:
        for t in tables:
            if t in schema.LEDGER_TABLES:
                self.execute(self.ddl(t))
            elif not self._dir(t).is_dir():
                self._dir(t).mkdir(parents=True)
                self._register(t)

    def drop_table(self, name: str) -> None:
        if name in schema.LEDGER_TABLES or name not in schema.TABLES:
            self.execute(f"DROP TABLE IF EXISTS {q(name)}")
            return
        shutil.rmtree(self._dir(name), ignore_errors=True)
        self.execute(f"DROP VIEW IF EXISTS {q(name)}")
        self.session.catalog.dropTempView(name)
        self._views.discard(name)

    def list_tables(self) -> list[str]:
        sql = "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary"
        duck = {r[0] for r in self.raw.execute(sql).fetchall()}
        return sorted(duck | set(self._canonical_dirs()))

    def _register(self, table: str) -> None:
        """(Re)create the Spark view and the DuckDB view of a canonical table over its current partitions."""
        cols = schema.spec(table).names
        parts = self._parts(table)
        if parts:
            df = self.session.read.schema(struct(table)).parquet(*(str(p) for p in sorted(parts.values())))
        else:
            df = self.session.createDataFrame([], struct(table))
        df.select(*cols).createOrReplaceTempView(table)
        files = sorted(str(f) for p in parts.values() for f in p.glob("*.parquet"))
        sel = ", ".join(q(c) for c in cols)
        if files:
            src = f"SELECT {sel} FROM read_parquet([{', '.join(lit(f) for f in files)}], hive_partitioning = false)"
        else:
            sp = schema.spec(table)
            src = "SELECT " + ", ".join(f"CAST(NULL AS {_DUCK_TYPES[c.type]}) AS {q(c.name)}" for c in sp.columns)
            src += " WHERE false"
        self.raw.execute(f"CREATE OR REPLACE TEMP VIEW {q(table)} AS {src}")
        self._views.add(table)

    def _refresh(self, tables: set[str]) -> None:
        for t in tables:
            if self._dir(t).is_dir():
                with contextlib.suppress(Exception):
                    self._register(t)

    def _snapshot_ledger_table(self, name: str) -> None:
        """Hand Spark the current rows of a ledger table (they live in the DuckDB file, see the module doc)."""
        tbl = self.raw.execute(f"SELECT * FROM {q(name)}").fetch_arrow_table()
        self.session.createDataFrame(tbl.to_pandas()).createOrReplaceTempView(name)

    # -- writes
    @contextmanager
    def staging(self) -> Iterator[Any]:
        yield schema.shared_connection()

    def write(self, staged: engine.Staged) -> tuple[int, int]:
        if self._tx is None:
            raise StoreError("spark store: write outside a transaction")
        table = staged.table
        sp = schema.spec(table)
        work = self.warehouse / "_tmp" / self._tx / uuid.uuid4().hex[:8]
        incoming = work / "in"
        pc = part_column(table)
        part = f"strftime({q(pc)}, '%Y-%m')" if pc else "'all'"
        cols = ", ".join(q(c) for c in sp.names)
        work.mkdir(parents=True, exist_ok=True)
        staged.con.execute(
            f"COPY (SELECT {cols}, {part} AS {PART} FROM ({staged.select_sql(order=False)})) TO {lit(str(incoming))} "
            f"(FORMAT parquet, PARTITION_BY ({PART}), COMPRESSION zstd)"
        )
        new_parts = {p.name.split("=", 1)[1]: p for p in incoming.iterdir() if p.is_dir()} if incoming.exists() else {}
        committed = self._parts(table)
        current = {p: self._pending.get((table, p), committed.get(p)) for p in new_parts}
        fresh = {p: d for p, d in new_parts.items() if current[p] is None}
        merge = {p: d for p, d in new_parts.items() if current[p] is not None}
        inserted = int(staged.con.execute(
            f"SELECT count(*) FROM ({staged.select_sql(order=False)}) WHERE {part} IN "
            f"({', '.join(lit(p) for p in fresh) or 'NULL'})").fetchone()[0]) if fresh else 0  # fmt: skip
        changed = 0
        for p, d in fresh.items():
            self._pending[(table, p)] = d
        if merge:
            ins, changed = self._merge(table, {p: current[p] for p in merge}, list(merge.values()), work / "out")
            inserted += ins
        return inserted, changed

    def _merge(self, table: str, old_dirs: dict[str, Path], new_dirs: list[Path], out: Path) -> tuple[int, int]:
        """Merge new rows into existing partitions in Spark; record the rewritten partitions as pending."""
        from pyspark.sql import functions as F

        sp = schema.spec(table)
        s = self.session
        old = s.read.schema(struct(table)).parquet(*(str(d) for d in old_dirs.values()))
        new = s.read.schema(struct(table)).parquet(*(str(d) for d in new_dirs))
        keys, non_keys = sp.keys, [c for c in sp.names if c not in sp.keys]
        o, n = old.alias("o"), new.alias("n")
        cond = [F.col(f"n.{k}") == F.col(f"o.{k}") for k in keys]
        same = F.lit(True)
        for c in non_keys:
            same = same & F.col(f"n.{c}").eqNullSafe(F.col(f"o.{c}"))
        found = F.col(f"o.{keys[0]}").isNotNull()
        ins = F.sum(F.when(~found, 1).otherwise(0)).alias("ins")
        chg = F.sum(F.when(found & ~same, 1).otherwise(0)).alias("chg")
        row = n.join(o, on=cond, how="left").select(ins, chg).collect()[0]
        inserted, changed = int(row["ins"] or 0), int(row["chg"] or 0)
        if inserted or changed:
            pc = part_column(table)
            part = F.date_format(F.col(pc), "yyyy-MM") if pc else F.lit("all")
            merged = old.join(new, on=keys, how="left_anti").unionByName(new)
            merged.withColumn(PART, part).repartition(PART).write.partitionBy(PART).parquet(
                str(out), compression="zstd"
            )
            written = {d.name.split("=", 1)[1] for d in out.iterdir() if d.is_dir() and d.name.startswith(f"{PART}=")}
            if written != set(old_dirs):  # Spark's month label differs from DuckDB's (a year outside 1000-9999)
                raise StoreError(
                    f"spark store: merging {table} wrote partitions {sorted(written)}, expected {sorted(old_dirs)}"
                )
            for p in old_dirs:
                self._pending[(table, p)] = out / f"{PART}={p}"
        return inserted, changed

    def close(self) -> None:
        # the SparkSession is the process's (it may serve other stores): only this store's connection closes
        with contextlib.suppress(Exception):
            for t in self._views:
                self.session.catalog.dropTempView(t)
        with contextlib.suppress(Exception):
            self.raw.close()

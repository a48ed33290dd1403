"""One storage interface over real backends: an embedded DuckDB file (default) and PostgreSQL.

Queries go through Ibis (one expression API that also compiles for PySpark); writes go through the backend
(:mod:`coreduce.store.base` defines the protocol, :mod:`coreduce.store.duckdb` and
:mod:`coreduce.store.postgres` implement it).  Each ingest is **one transaction** and **idempotent**: rows are
typed and checked first (every error reported, nothing written on any), then upserted on the canonical
table's key, so re-ingesting the same file changes nothing.

Examples
--------
>>> from coreduce.store import Store
>>> store = Store("workspace.duckdb")                          # embedded default  # doctest: +SKIP
>>> store = Store("postgresql://postgres@127.0.0.1:5432/test")  # multi-user service  # doctest: +SKIP
>>> store = Store("spark://local[2]?warehouse=/data/wh")        # scale-out (coreduce[spark])  # doctest: +SKIP
>>> store.ingest({"activity": activity_df}, source="activity.csv")  # doctest: +SKIP
>>> store.ingest_csv("observations.csv", "observations")      # the fast path for files  # doctest: +SKIP
>>> store.table("inventory").group_by("sector").aggregate(t=lambda t: t.amount.sum())  # doctest: +SKIP
"""

from __future__ import annotations

from coreduce.store.base import (
    BACKENDS,
    Backend,
    IngestReport,
    Store,
    Tx,
    check_ingestable,
    ddl,
    epoch_bucket,
    exists,
    mask_url,
    orders_by_code_point,
    parse_url,
    register,
    release_in_memory_tables,
)
from coreduce.store.duckdb import DuckDBBackend
from coreduce.store.postgres import PostgresBackend
from coreduce.store.spark import SparkBackend, spark_url

__all__ = [
    "BACKENDS",
    "Backend",
    "DuckDBBackend",
    "IngestReport",
    "PostgresBackend",
    "SparkBackend",
    "Store",
    "Tx",
    "check_ingestable",
    "ddl",
    "epoch_bucket",
    "exists",
    "mask_url",
    "orders_by_code_point",
    "parse_url",
    "register",
    "release_in_memory_tables",
    "spark_url",
]

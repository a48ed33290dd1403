"""Fixtures for the trust-layer tests: a store on DuckDB (tmp file) and on PostgreSQL (a fresh database).

The PostgreSQL database ``coreduce_test_<uuid>`` is created once per test session (per xdist worker) on the
local server (``127.0.0.1:5432``, user ``postgres``, trust auth) and dropped at the end; tests needing it are
marked ``postgres`` and skipped when the server is not reachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from coreduce.store import Store

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _fast_footprint(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Deterministic, fast footprint (power model, no CodeCarbon start), a fixed user, and a throw-away cache
    folder (``verify --remember`` keeps the last head seen there, never in the tester's own cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("COREDUCE_FOOTPRINT", "fallback")
    monkeypatch.delenv("COREDUCE_PROVINCE", raising=False)
    monkeypatch.setenv("COREDUCE_USER", "tester")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this session (dropped afterwards)."""
    psycopg = pytest.importorskip("psycopg")
    name = f"coreduce_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # server not running here
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A store URL with an empty ledger, on each backend."""
    if request.param == "duckdb":
        yield str(tmp_path / "ws.duckdb")
        return
    url = request.getfixturevalue("pg_url")
    with Store(url, create=False) as s:
        s.drop_all()
    yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open store on each backend (closed afterwards)."""
    s = Store(store_url, create=False)
    try:
        yield s
    finally:
        s.close()

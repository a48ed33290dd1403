"""Shared fixtures: a fresh PostgreSQL database per test session on the local server (real, not mocked)."""

from __future__ import annotations

import os
import uuid

import pytest

PG_ADMIN = os.environ.get("COREDUCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def _workspace_in_tmp(monkeypatch, tmp_path):
    """CLI commands default to the workspace $COREDUCE_STORE: keep it out of the checkout."""
    monkeypatch.setenv("COREDUCE_STORE", str(tmp_path / "default-workspace.duckdb"))


@pytest.fixture(autouse=True)
def _fast_deterministic_footprint(monkeypatch):
    """Tests measure the runs' own footprint with the documented fallback power model (fast, deterministic);
    the CodeCarbon path has its own test in tests/ledger/test_footprint.py."""
    monkeypatch.setenv("COREDUCE_FOOTPRINT", "fallback")
    monkeypatch.setenv("COREDUCE_USER", "tester")


@pytest.fixture(scope="session")
def pg_url():
    """URL of a throw-away database on the local PostgreSQL server (dropped at the end of the session)."""
    import psycopg

    name = f"coreduce_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN.replace("postgresql://", "postgresql://", 1), autocommit=True)
    except psycopg.OperationalError as exc:  # pragma: no cover - the server is part of the machine kind
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """A fresh, empty Store on each backend."""
    from coreduce.store import Store

    if request.param == "duckdb":
        url = str(tmp_path / "ws.duckdb")
    else:
        url = request.getfixturevalue("pg_url")
    st = Store(url)
    st.drop_all()
    st.create_tables()
    yield st
    st.drop_all()
    st.close()

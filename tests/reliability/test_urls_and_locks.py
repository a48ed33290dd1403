"""Store URLs and file locks: libpq semantics, masked passwords, no network from DuckDB, a bounded lock wait."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from coreduce.errors import StoreError
from coreduce.store import Store, mask_url, parse_url

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_sslmode_require_is_honoured(pg_url):
    """The local server has no TLS: sslmode=require must refuse to connect, not connect in plain text."""
    with pytest.raises(StoreError, match=r"cannot open store.*SSL"):
        Store(pg_url + "?sslmode=require")
    with Store(pg_url + "?sslmode=disable&application_name=coreduce-test", create=False) as st:
        assert st.execute("SELECT current_setting('application_name')") == [("coreduce-test",)]


@pytest.mark.skipif(not Path("/var/run/postgresql/.s.PGSQL.5432").exists(), reason="no local PostgreSQL socket")
def test_unix_socket_host(pg_url):
    db = pg_url.rsplit("/", 1)[1]
    with Store(f"postgresql://postgres@/{db}?host=/var/run/postgresql", create=False) as st:
        # a Unix-socket connection has no client address
        assert st.execute("SELECT inet_client_addr() IS NULL") == [(True,)]


def test_password_masked_everywhere():
    url = "postgresql://alice:s3cr%40t@127.0.0.1:1/none?connect_timeout=2"
    assert mask_url(url) == "postgresql://alice:***@127.0.0.1:1/none?connect_timeout=2"
    assert (
        mask_url("postgresql://a@h/db?password=pw&sslmode=require")
        == "postgresql://a@h/db?password=***&sslmode=require"
    )
    with pytest.raises(StoreError) as err:
        Store(url)
    assert "s3cr" not in str(err.value) and "alice:***@" in str(err.value)
    assert err.value.__cause__ is None  # no chained driver exception carrying the URL into a traceback
    with pytest.raises(StoreError) as err:
        parse_url("postgresql://bob:hunter2@host")
    assert "hunter2" not in str(err.value)


def test_repr_and_display_url_masked(pg_url):
    base, db = pg_url.rsplit("/", 1)
    url = base.replace("postgres@", "postgres:topsecret@") + "/" + db  # trust auth ignores the password
    with Store(url, create=False) as st:
        assert "topsecret" not in repr(st) and "topsecret" not in st.display_url
        assert "postgres:***@" in st.display_url


@pytest.mark.parametrize("url", ["md:foo", "motherduck:foo", "s3://bucket/ws.duckdb",
                                 "http://example.com/ws.duckdb", "duckdb://md:foo"])  # fmt: skip
def test_non_file_duckdb_urls_refused(url):
    with pytest.raises(StoreError, match="never reaches the network"):
        Store(url)


def test_duckdb_has_no_extension_autoload(tmp_path):
    with Store(tmp_path / "ws.duckdb") as st:
        got = st.execute(
            "SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
        )
    assert got == [(False, False)]


HOLD = textwrap.dedent("""
    import sys, time
    from coreduce.store import Store
    st = Store(sys.argv[1])
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    st.close()
""")


def _holder(path: Path, seconds: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, env=env,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_duckdb_lock_wait_then_clear_message(tmp_path, monkeypatch):
    path = tmp_path / "ws.duckdb"
    Store(path).close()
    proc = _holder(path, 30)
    try:
        monkeypatch.setenv("COREDUCE_LOCK_TIMEOUT", "1")
        start = time.monotonic()
        with pytest.raises(StoreError) as err:
            Store(path)
        waited = time.monotonic() - start
        assert 0.9 < waited < 10
        msg = str(err.value)
        assert "\n" not in msg
        assert str(path) in msg and f"locked by process {proc.pid}" in msg and "COREDUCE_LOCK_TIMEOUT" in msg
    finally:
        proc.kill()
        proc.wait()


def test_duckdb_lock_waits_for_the_holder(tmp_path, monkeypatch):
    path = tmp_path / "ws.duckdb"
    Store(path).close()
    proc = _holder(path, 1.5)
    monkeypatch.setenv("COREDUCE_LOCK_TIMEOUT", "30")
    with Store(path) as st:  # waits until the holder closes, then opens
        assert st.count("activity") == 0
    assert proc.wait(timeout=30) == 0

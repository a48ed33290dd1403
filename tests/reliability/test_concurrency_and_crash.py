"""Several processes on one store, and ``kill -9`` in the middle of an ingest.

- N=8 processes make first use of an EMPTY PostgreSQL database at once (create the tables, ingest a row):
  all succeed (schema creation holds an advisory lock; before, 2–8 of 8 failed with ``UniqueViolation``).
- N=4 processes ingest into one DuckDB file at once: DuckDB admits one process per file, the others wait
  for the lock (``COREDUCE_LOCK_TIMEOUT``) and all succeed.
- A process killed with SIGKILL during a large ingest leaves the store as it was before (or, had it
  committed, after) — never partial; the store opens and the re-ingest completes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from coreduce.store import Store

SRC = str(Path(__file__).resolve().parents[2] / "src")
PG_ADMIN = os.environ.get("COREDUCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

WORKER = textwrap.dedent("""
    import sys, time
    import pandas as pd
    from coreduce.store import Store
    url, i, t0 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    time.sleep(max(0.0, t0 - time.time()))   # start together
    with Store(url) as st:
        n = 500
        obs = pd.DataFrame({"site_id": f"s{i}", "ts": pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC"),
                            "variable": "PM2.5", "value": 10.0, "unit": "ug/m3"})
        rep = st.ingest({"sites": pd.DataFrame({"site_id": [f"s{i}"], "kind": ["station"]}), "observations": obs})
        print(rep.inserted["sites"], rep.inserted["observations"], flush=True)
""")


def _run_together(url: str, n: int, timeout: float = 120) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": SRC, "COREDUCE_LOCK_TIMEOUT": "60"}
    t0 = time.time() + 4.0  # time for every interpreter to import
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(i), str(t0)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.fixture
def empty_pg_db():
    import psycopg

    name = f"coreduce_conc_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_eight_processes_first_use_of_empty_postgres(empty_pg_db):
    res = _run_together(empty_pg_db, 8)
    failed = [r.stderr.strip().splitlines()[-1] for r in res if r.returncode != 0]
    assert failed == [], f"{len(failed)} of 8 failed: {failed}"
    assert sorted(r.stdout.split() for r in res) == [["1", "500"]] * 8
    with Store(empty_pg_db, create=False) as st:
        assert st.count("sites") == 8 and st.count("observations") == 8 * 500


@pytest.mark.slow
def test_four_processes_ingest_one_duckdb_file(tmp_path):
    path = tmp_path / "ws.duckdb"
    res = _run_together(str(path), 4)
    failed = [r.stderr.strip().splitlines()[-1] for r in res if r.returncode != 0]
    assert failed == [], f"{len(failed)} of 4 failed: {failed}"
    with Store(path) as st:
        assert st.count("sites") == 4 and st.count("observations") == 4 * 500


INGEST = textwrap.dedent("""
    import sys
    from coreduce.store import Store
    st = Store(sys.argv[1])
    print("ingesting", flush=True)
    st.ingest_csv(sys.argv[2], "observations")
    print("done", flush=True)
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_during_ingest_leaves_before_or_after(tmp_path, request, backend):
    n = 1_500_000 if backend == "duckdb" else 400_000  # long enough to be killed mid-way
    csv = tmp_path / "obs.csv"
    duckdb.sql(
        f"COPY (SELECT 'site_' || (i % 2000) AS site_id, "
        f"strftime(TIMESTAMPTZ '2022-01-01 00:00:00+00' + to_hours(i // 2000), '%Y-%m-%dT%H:%M:%SZ') AS ts, "
        f"'PM2.5' AS variable, (i % 97) + 0.5 AS value, 'ug/m3' AS unit FROM range({n}) t(i)) "
        f"TO '{csv}' (HEADER)"
    )
    url = str(tmp_path / "ws.duckdb") if backend == "duckdb" else request.getfixturevalue("pg_url")
    with Store(url) as st:
        st.drop_all()
        st.create_tables()
        seed = tmp_path / "seed.csv"
        seed.write_text("site_id,ts,variable,value,unit\nseed,2021-01-01T00:00:00Z,PM2.5,1,ug/m3\n")
        st.ingest_csv(seed, "observations")
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", INGEST, url, str(csv)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ingesting"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Store(url) as st:
        count = st.count("observations")
        assert count in (1, n + 1), count  # before or after, never partial
        rep = st.ingest_csv(csv, "observations")
        assert rep.inserted["observations"] == n + 1 - count
        assert st.count("observations") == n + 1
        if backend == "postgres":
            st.drop_all()

"""Concurrent appenders: the ledger's own DDL and appends are serialised (an advisory lock for creating and
migrating the tables, an exclusive table lock for each append), so every run gets its own seq and the chain
stays intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import coreduce
from coreduce.ledger import Ledger
from coreduce.store import Store

_APPENDER = """
import sys
from coreduce.ledger import Ledger
from coreduce.store import Store

with Store(sys.argv[1], create=False) as s:
    led = Ledger(s)  # creates / migrates the ledger tables, racing the other processes
    for i in range(int(sys.argv[2])):
        with led.run("demo", params={"worker": sys.argv[3], "i": i}) as run:
            run.claim("SO2", 1.0)
"""


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_first_use_and_appends_on_postgres(pg_url: str) -> None:
    with Store(pg_url, create=False) as s:
        s.drop_all()  # the processes start from an empty database
    env = {**os.environ, "PYTHONPATH": str(Path(coreduce.__file__).parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, pg_url, "5", str(w)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(6)]  # fmt: skip
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    with Store(pg_url, create=False) as s:
        led = Ledger(s, create=False)
        res = led.verify()
        assert res.ok and res.n == 30
        assert sorted(r["seq"] for r in led.records()) == list(range(1, 31))
        assert len(led.claims()) == 30

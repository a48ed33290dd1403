"""The ``coreduce monitor`` sub-app (the lead registers it in cli/main.py)."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from coreduce.cli.monitor import app
from coreduce.store import Store


def test_replay_command_idempotent(tmp_path):
    f = tmp_path / "r.csv"
    pd.DataFrame({"site_id": "m-1", "ts": pd.date_range("2024-03-01", periods=30, freq="h", tz="UTC"),
                  "variable": "electricity", "value": 12.5, "unit": "MWh"}).to_csv(f, index=False)  # fmt: skip
    ws = tmp_path / "ws.duckdb"
    r1 = CliRunner().invoke(app, ["replay", str(f), "--store", str(ws)])
    r2 = CliRunner().invoke(app, ["replay", str(f), "--store", str(ws)])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output
    assert json.loads(r1.output)["inserted"] == 30 and json.loads(r2.output)["inserted"] == 0
    assert Store(ws).count("observations") == 30


def test_run_command_refuses_a_bad_broker_address(tmp_path):
    r = CliRunner().invoke(
        app, ["run", "--mqtt", "localhost", "--topics", "a/#", "--store", str(tmp_path / "w.duckdb")]
    )
    assert r.exit_code != 0 and "HOST:PORT" in r.output

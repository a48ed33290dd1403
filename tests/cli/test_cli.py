"""The command line: exit codes, one-line errors, outputs with hand-checked figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from coreduce.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_account_writes_the_documented_columns(tmp_path):
    act = tmp_path / "a.csv"
    act.write_text(
        "entity,sector,period_start,period_end,activity_type,amount,unit\n"
        "plant_a,power,2022-01-01,2023-01-01,coal_bituminous,100,kt\n"
        "plant_a,power,2022-01-01,2023-01-01,natural_gas,2000,GJ\n"
    )
    fac = tmp_path / "f.csv"
    fac.write_text("activity_type,pollutant,value,unit,source\ncoal_bituminous,SO2,16,kg/t,2*S*k S=1% k=0.8\n")
    out = tmp_path / "inv.csv"
    res = runner.invoke(app, ["account", "--activity", str(act), "--factors", str(fac), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    inv = pd.read_csv(out)
    assert list(inv.columns) == ["entity", "sector", "period_start", "pollutant", "amount", "unit"]
    co2 = inv.loc[inv["pollutant"] == "CO2", "amount"].item()
    # coal: 100 Gg × 25.8 TJ/Gg × 94.6 t/TJ = 244 068 t; gas: 2 TJ × 56.1 t/TJ = 112.2 t
    assert co2 == pytest.approx(244_068 + 112.2, rel=1e-12)
    so2 = inv.loc[inv["pollutant"] == "SO2", "amount"].item()
    # user factor wins for coal: 100 000 t × 16 kg/t = 1600 t; gas (power) uses the library's first-priority
    # per-energy factor: 2000 GJ = 2 TJ × EF [kg/TJ] / 1000
    from coreduce.account import FactorLibrary

    ef = FactorLibrary.default().emission_factors
    gas = ef[
        (ef.activity_type == "natural_gas") & (ef.pollutant == "SO2") & (ef.sector == "power") & (ef.unit == "kg/TJ")
    ]
    assert so2 == pytest.approx(1600.0 + 2 * gas["value"].iloc[0] / 1000, rel=1e-12)
    payload = json.loads(res.stdout)
    assert payload["totals_t"]["CO2"] == pytest.approx(244_068 + 112.2, rel=1e-9)
    assert payload["factor_version"].startswith("2026.11+")


def test_account_bad_input_is_one_line_exit_2(tmp_path):
    act = tmp_path / "a.csv"
    act.write_text(
        "entity,sector,period_start,period_end,activity_type,amount,unit\n"
        "plant_a,power,2022-01-01,2023-01-01,coal_bituminous,-100,kt\n"
    )
    out = tmp_path / "inv.csv"
    res = runner.invoke(app, ["account", "--activity", str(act), "--out", str(out)])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert err == (f"error: {act}, row 2, column 'amount': got -100.0, expected a non-negative activity amount")
    assert "Traceback" not in res.output
    assert not out.exists()  # nothing half-written


def test_account_missing_file(tmp_path):
    res = runner.invoke(app, ["account", "--activity", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2
    assert res.stderr == f"error: {tmp_path / 'nope.csv'}: expected an existing activity file\n"


def test_examples_run(tmp_path):
    out = tmp_path / "inv.csv"
    res = runner.invoke(
        app,
        [
            "account",
            "--activity",
            str(EXAMPLES / "activity.csv"),
            "--factors",
            str(EXAMPLES / "factors.csv"),
            "--out",
            str(out),
            "--detail",
        ],
    )
    assert res.exit_code == 0, res.output
    det = pd.read_csv(out)
    # plant_a: 1200 kt coal with ESP+FGD+SCR; SO2 from the example's user factor 16 kg/t × (1 − 0.95):
    # 1.2e6 t × 16 kg/t × 0.05 = 960 000 kg = 960 t
    so2 = det[(det["entity"] == "plant_a") & (det["activity_type"] == "coal_bituminous") & (det["pollutant"] == "SO2")]
    assert so2["amount"].item() == pytest.approx(960.0, rel=1e-12)
    assert so2["factor_set"].item() == "user"


def test_ingest_is_idempotent_via_cli(tmp_path):
    db = tmp_path / "ws.duckdb"
    args = ["ingest", str(EXAMPLES / "activity.csv"), "--table", "activity", "--store", str(db), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["inserted"] == {"activity": 8}
    second = runner.invoke(app, args)
    assert json.loads(second.stdout)["inserted"] == {"activity": 0}
    assert json.loads(second.stdout)["matched"] == {"activity": 8}


def test_ingest_refuses_the_ledger_tables(tmp_path):
    f = tmp_path / "claims.csv"
    f.write_text("run_id,pollutant,amount,unit,basis\nr1,SO2,1,t,x\n")
    for table in ("ledger", "claims"):
        res = runner.invoke(app, ["ingest", str(f), "--table", table, "--store", str(tmp_path / "ws.duckdb")])
        assert res.exit_code == 2, res.output
        assert res.stderr.strip().splitlines() == [
            f"error: table '{table}' is written only by the ledger (append-only, hash-chained); it cannot be ingested"
        ]
    assert not (tmp_path / "ws.duckdb").exists()


def test_ingest_csv_takes_the_fast_path_other_files_read_raw(tmp_path, monkeypatch):
    import coreduce.ingest.files as files
    from coreduce.store import Store

    read = []
    real = files.read_raw
    monkeypatch.setattr(files, "read_raw", lambda p: read.append(Path(p).name) or real(p))
    calls = []
    real_csv = Store.ingest_csv
    monkeypatch.setattr(Store, "ingest_csv", lambda self, *a, **k: calls.append(a) or real_csv(self, *a, **k))
    db = tmp_path / "ws.duckdb"
    res = runner.invoke(app, ["ingest", str(EXAMPLES / "activity.csv"), "--table", "activity", "--store", str(db)])
    assert res.exit_code == 0, res.output
    assert calls == [(EXAMPLES / "activity.csv", "activity")] and read == []
    pq = tmp_path / "activity.parquet"
    pd.read_csv(EXAMPLES / "activity.csv", dtype=str).assign(entity=lambda d: d["entity"] + "_pq").to_parquet(pq)
    res = runner.invoke(app, ["ingest", str(pq), "--table", "activity", "--store", str(db), "--json"])
    assert res.exit_code == 0, res.output
    assert read == ["activity.parquet"] and len(calls) == 1
    assert json.loads(res.stdout)["inserted"] == {"activity": 8}
    with Store(db, create=False) as st:
        assert st.count("activity") == 16


def test_account_with_store_records_a_reproducible_run(tmp_path):
    db = tmp_path / "ws.duckdb"
    out = tmp_path / "inv.csv"
    res = runner.invoke(
        app, ["account", "--activity", str(EXAMPLES / "activity.csv"), "--out", str(out), "--store", str(db)]
    )
    assert res.exit_code == 0, res.output
    runs = json.loads(runner.invoke(app, ["ledger", "list", "--store", str(db), "--json"]).stdout)
    assert len(runs) == 1 and runs[0]["kind"] == "account" and runs[0]["status"] == "ok"
    rep = runner.invoke(app, ["ledger", "reproduce", runs[0]["run_id"], "--store", str(db), "--json"])
    assert rep.exit_code == 0, rep.output
    assert json.loads(rep.stdout)["matched"] is True
    from coreduce.store import Store

    with Store(db) as st:
        assert st.count("activity") == 8
        inv = st.read("inventory")
    # the stored detail equals the CLI's summary when summed: CO2 of the whole example
    total = pd.read_csv(out).query("pollutant == 'CO2'")["amount"].sum()
    assert inv.loc[inv["pollutant"] == "CO2", "amount"].sum() == pytest.approx(total, rel=1e-12)


def test_account_records_on_the_default_workspace_unless_no_store(tmp_path, monkeypatch):
    import os

    out = tmp_path / "inv.csv"
    args = ["account", "--activity", str(EXAMPLES / "activity.csv"), "--out", str(out)]
    assert runner.invoke(app, [*args, "--no-store"]).exit_code == 0
    ws = os.environ["COREDUCE_STORE"]
    assert not Path(ws).exists()  # --no-store: nothing but the CSV
    assert runner.invoke(app, args).exit_code == 0
    runs = json.loads(runner.invoke(app, ["ledger", "list", "--store", ws, "--json"]).stdout)
    assert [r["kind"] for r in runs] == ["account"]
    rec = json.loads(runner.invoke(app, ["ledger", "show", runs[0]["run_id"], "--store", ws, "--json"]).stdout)
    assert rec["factor_version"].startswith("2026.11+")
    assert rec["explanation"]["totals_t"]["CO2"] > 0


def test_factors_listing_json():
    res = runner.invoke(app, ["factors", "--activity-type", "coal_bituminous", "--pollutant", "CO2", "--json"])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)["factors"]
    assert rows[0]["value"] == 94600.0 and "IPCC 2006" in rows[0]["source"]


def test_load_dataset_into_workspace_is_idempotent(tmp_path):
    db = tmp_path / "ws.duckdb"
    first = runner.invoke(app, ["load", "ceads-national", "--store", str(db), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["inserted"] == {"inventory": 407}
    again = runner.invoke(app, ["load", "ceads-national", "--store", str(db), "--json"])
    assert json.loads(again.stdout)["inserted"] == {"inventory": 0}
    from coreduce.account import aggregate
    from coreduce.store import Store

    with Store(db) as st:
        tot = aggregate(st.table("inventory"), by=["entity"], freq="year", pollutants=["CO2"])
    y2019 = tot[tot["period"].dt.year == 2019]["amount"].item()
    # CEADs national 2019 Scope_1_Total = 9794.756 Mt (PROVENANCE.md spot value; cells rounded to 1 t)
    assert y2019 == pytest.approx(9794.756e6, abs=500.0)
    bad = runner.invoke(app, ["load", "nope", "--store", str(db)])
    assert bad.exit_code == 2
    assert "expected a data set name" in bad.stderr

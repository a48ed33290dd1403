"""Decision pipelines on the ledger: decisions stored with the run, per-pollutant claims, CLI JSON."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from coreduce.ledger import Ledger
from coreduce.optimise import jobs

from .test_curtail import tiny
from .test_portfolio import hand_measures


@pytest.fixture
def curtail_file(tmp_path):
    p = tmp_path / "curtail.json"
    p.write_text(json.dumps(tiny(cap=85.0)))
    return p


def test_curtail_recorded_with_decisions_and_claims(store, curtail_file):
    res = jobs.curtail(curtail_file, store=store)
    assert res.objective == pytest.approx(11800.0)
    dec = store.read("decisions")
    assert set(dec["run_id"]) == {res.run_id}
    assert len(dec[dec["item"] != "co-benefits"]) == 6  # 2 enterprises x 3 hours
    cuts = dec[dec["item"] == "steel"].sort_values("period_start")["value"].tolist()
    # the two least-cost schedules (test_curtail.test_by_hand_cap_85): steel shut in hours 0-1 or 1-2
    assert cuts in ([1.0, 1.0, 0.0], [0.0, 1.0, 1.0])
    # co-benefits attached as decision rows, by hand: cuts CO2 378 t, SO2 0.8 t, NOx 0.2 t, PM2.5 0.5 t
    cb = dec[dec["item"] == "co-benefits"].set_index("quantity")["value"]
    assert cb["kg_SO2_per_t_CO2"] == pytest.approx(800.0 / 378.0)
    assert cb["kg_PM2.5_per_t_CO2"] == pytest.approx(500.0 / 378.0)
    assert cb["apeq_cut"] == pytest.approx(800.0 / 0.95 + 200.0 / 0.95)  # statutory SO2/NOx 0.95 kg per equivalent
    # intake fractions (urban, humbert2011 set): 0.5 t x 44e-6 + 0.8 t x 0.89e-6 + 0.2 t x 0.2e-6, in kg
    assert cb["pm25_inhaled_avoided"] == pytest.approx(1000 * (0.5 * 44e-6 + 0.8 * 0.89e-6 + 0.2 * 0.2e-6))
    assert "avoided_deaths" not in cb  # no population/baseline mortality given: no health number invented
    assert res.as_dict()["cobenefits"]["health"] is None
    claims = Ledger(store).claims(res.run_id).set_index("pollutant")
    # steel 200 units x (PM2.5 0.002, SO2 0.004, CO2 1.8); cement 20 units x (PM2.5 0.005, NOx 0.01, CO2 0.9)
    assert claims.loc["CO2", "amount"] == pytest.approx(378.0)
    assert claims.loc["SO2", "amount"] == pytest.approx(0.8)
    assert claims.loc["PM2.5", "amount"] == pytest.approx(200 * 0.002 + 20 * 0.005)
    assert claims.loc["NOx", "amount"] == pytest.approx(0.2)
    assert "no curtailment" in claims.loc["CO2", "basis"]
    rec = Ledger(store).list()
    assert rec["kind"].tolist() == ["optimise.curtail"] and rec["status"].tolist() == ["ok"]


def test_infeasible_run_stores_nothing(store, tmp_path):
    from coreduce.optimise import Infeasible

    p = tmp_path / "bad.json"
    p.write_text(json.dumps(tiny(cap=70.0)))
    with pytest.raises(Infeasible):
        jobs.curtail(p, store=store)
    assert store.count("decisions") == 0
    assert Ledger(store).list()["status"].tolist() == ["error"]


def test_portfolio_claims_removals(store, tmp_path):
    m = tmp_path / "m.csv"
    hand_measures()[["measure", "annual_cost", "max_units", "removal_SO2", "removal_CO2", "source"]].to_csv(
        m, index=False
    )
    res = jobs.portfolio(m, {"SO2": 15, "CO2": 40}, store=store)
    assert res.objective == pytest.approx(235.0)
    cl = Ledger(store).claims(res.run_id).set_index("pollutant")["amount"]
    # B 0.75 x (20 SO2, 50 CO2) + C 0.025 x 100 CO2 = 15 t SO2, 40 t CO2
    assert cl["SO2"] == pytest.approx(15.0) and cl["CO2"] == pytest.approx(40.0)
    dec = store.read("decisions")
    d = dec[dec["item"] != "co-benefits"].set_index("item")["value"]
    assert d.to_dict() == pytest.approx({"B": 0.75, "C": 0.025})
    cb = dec[dec["item"] == "co-benefits"].set_index("quantity")["value"]
    assert cb["kg_SO2_per_t_CO2"] == pytest.approx(15000.0 / 40.0) and cb["apeq_cut"] == pytest.approx(15000 / 0.95)


def test_curtail_cobenefits_health_and_money(tmp_path):
    # the same plan with a cobenefits block: population 1e6, baseline mortality 0.007, VSL 3e6 CNY
    prob = tiny(cap=85.0)
    prob["cobenefits"] = {"population": 1e6, "baseline_mortality": 0.007, "vsl": 3e6, "currency": "CNY"}
    p = tmp_path / "c.json"
    p.write_text(json.dumps(prob))
    res = jobs.curtail(p)
    h = res.outputs["cobenefits"]["health"]
    # by hand: inhaled 0.022752 kg = 2.2752e7 ug over 1e6 people x 15 m3/day x 365 d -> dC; Krewski beta ln(1.06)/10
    dc = 1e12 * (0.5 * 44e-6 + 0.8 * 0.89e-6 + 0.2 * 0.2e-6) / (1e6 * 15 * 365)
    deaths = 0.007 * (1 - math.exp(-math.log(1.06) / 10 * dc)) * 1e6
    assert res.outputs["cobenefits"]["delta_pm25"] == pytest.approx(dc)
    assert h["avoided_deaths"] == pytest.approx(deaths) and h["value"] == pytest.approx(deaths * 3e6)
    rows = res.outputs["decisions"].query("item == 'co-benefits'").set_index("quantity")
    assert rows.loc["avoided_deaths", "value"] == pytest.approx(deaths)
    assert rows.loc["health_value", "unit"] == "CNY"


def test_cobenefits_block_checked(tmp_path):
    prob = tiny(cap=85.0)
    prob["cobenefits"] = {"population": -5}
    p = tmp_path / "c.json"
    p.write_text(json.dumps(prob))
    from coreduce.errors import InputError

    with pytest.raises(InputError, match="population"):
        jobs.curtail(p)


def _cli():
    from coreduce.cli.optimise import app

    root = typer.Typer()
    root.add_typer(app, name="optimise")
    return root


def test_cli_curtail_json(tmp_path, curtail_file):
    r = CliRunner().invoke(
        _cli(),
        ["optimise", "curtail", "--problem", str(curtail_file), "--json", "--store", str(tmp_path / "ws.duckdb")],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["objective"] == pytest.approx(11800.0) and d["run_id"]
    assert {c["pollutant"] for c in d["claims"]} == {"CO2", "SO2", "NOx", "PM2.5"}
    assert d["decision"][0]["enterprise"] == "steel"


def test_cli_portfolio_infeasible_exit_1(tmp_path):
    m = tmp_path / "m.csv"
    hand_measures()[["measure", "annual_cost", "max_units", "removal_SO2", "removal_CO2", "source"]].to_csv(
        m, index=False
    )
    r = CliRunner().invoke(
        _cli(), ["optimise", "portfolio", "--measures", str(m), "--target", "SO2=100", "--json", "--no-store"]
    )
    assert r.exit_code == 1
    d = json.loads(r.output)
    assert d["status"] == "infeasible" and d["shortfalls"][0]["shortfall"] == pytest.approx(70.0)


def test_cli_bad_target_one_line():
    r = CliRunner().invoke(_cli(), ["optimise", "portfolio", "--measures", "x.csv", "--target", "SO2", "--no-store"])
    assert r.exit_code == 2


def test_decisions_declared_as_data():
    from coreduce import schema

    df = pd.read_csv(schema.__file__.replace("__init__.py", "tables.csv"))
    d = df[df["table"] == "decisions"]
    assert d[d["key"] == "yes"]["column"].tolist() == ["run_id", "problem", "item", "period_start", "quantity"]


def test_json_stdout_is_pure_json_in_a_real_process(tmp_path):
    """highspy prints its banner on stdout when a solver is created; `--json` must still be parseable."""
    import json
    import os
    import subprocess
    import sys

    m = tmp_path / "m.csv"
    hand_measures()[["measure", "annual_cost", "max_units", "removal_SO2", "removal_CO2", "source"]].to_csv(
        m, index=False
    )
    env = {**os.environ, "COREDUCE_FOOTPRINT": "fallback"}
    cmd = [sys.executable, "-m", "coreduce.cli.main", "optimise", "portfolio", "--measures", str(m)]
    p = subprocess.run([*cmd, "--target", "SO2=20", "--json", "--no-store"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)  # fails when "Running HiGHS …" reaches stdout
    assert out["objective"] > 0


def test_solver_output_quiet_by_default_and_shown_with_verbose(tmp_path, curtail_file):
    # a real process (file descriptors, not a captured sys.stdout): HiGHS's banner must not reach the terminal
    # unless --verbose, and the JSON on stdout stays parseable either way
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    env.pop("COREDUCE_SOLVER_VERBOSE", None)
    cmd = [sys.executable, "-m", "coreduce.cli.main", "optimise", "curtail", "--problem", str(curtail_file)]
    q = subprocess.run([*cmd, "--json", "--no-store"], capture_output=True, text=True, env=env, check=False)
    assert q.returncode == 0, q.stderr
    assert "HiGHS" not in q.stderr and q.stdout.startswith("{")  # nothing before the JSON
    d = json.loads(q.stdout)
    assert d["explanation"]["solver"]["name"] == "HiGHS"  # the solve is logged to the run's explanation
    v = subprocess.run(
        [*cmd, "--json", "--no-store", "--verbose"], capture_output=True, text=True, env=env, check=False
    )
    assert v.returncode == 0 and "HiGHS" in v.stderr
    assert json.loads(v.stdout)["objective"] == pytest.approx(11800.0)

"""The benefits / policy / credits CLIs on the example files (Typer sub-apps mounted as the main app will)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from coreduce.cli.benefits import app as benefits_app
from coreduce.cli.credits import app as credits_app
from coreduce.cli.policy import app as policy_app
from coreduce.ledger import Ledger
from coreduce.store import Store

EX = Path(__file__).resolve().parents[2] / "examples" / "benefits"
main = typer.Typer()
main.add_typer(benefits_app, name="benefits")
main.add_typer(policy_app, name="policy")
main.add_typer(credits_app, name="credits")
runner = CliRunner()


def run(*args: str) -> dict:
    r = runner.invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_health_crf_variants_by_hand(tmp_path):
    base = ["benefits", "health", "--delta-pm25", "10", "--population", "1000000", "--baseline-mortality", "0.007"]
    ws = ["--store", str(tmp_path / "w.duckdb")]
    k = run(*base, "--crf", "krewski2009", "--json", *ws)
    assert k["avoided"] == pytest.approx(7000 * 0.06 / 1.06)
    ll = run(*base, "--crf", "loglinear", "--rr", "1.06", "--json", "--no-record")
    assert ll["avoided"] == pytest.approx(k["avoided"]) and ll["run_id"] is None
    g = run(*base, "--crf", "gemm", "--baseline-pm25", "50", "--json", "--no-record")
    assert 0 < g["avoided"] < k["avoided"] * 2
    led = Ledger(Store(str(tmp_path / "w.duckdb")))
    assert led.get(k["run_id"])["kind"] == "benefits.health"
    bad = runner.invoke(main, [*base, "--crf", "gemm", "--no-record"])
    assert bad.exit_code == 2 and "baseline_pm25" in bad.output


def test_synergy_records_claims(tmp_path):
    ws = str(tmp_path / "w.duckdb")
    out = run(
        "benefits",
        "synergy",
        "--before",
        str(EX / "inventory_before.csv"),
        "--after",
        str(EX / "inventory_after.csv"),
        "--measure",
        "coal_to_gas",
        "--json",
        "--store",
        ws,
        "--chart",
        str(tmp_path / "c.html"),
    )
    rows = {r["pollutant"]: r for r in out["synergy"]}
    co2_cut = 244068.0 - 117810.0
    assert rows["CO2"]["cut"] == pytest.approx(co2_cut)
    assert rows["SO2"]["kg_per_t_co2"] == pytest.approx((105.78 - 0.5901) * 1000 / co2_cut)
    assert rows["NOx"]["quadrant"].startswith("IV")
    claims = Ledger(Store(ws)).claims(out["run_id"]).set_index("pollutant")
    assert claims.loc["SO2", "amount"] == pytest.approx(105.78 - 0.5901)
    assert "NOx" not in claims.index  # NOx went up: nothing claimed
    assert (tmp_path / "c.html").read_text().count("Co-control coordinate system") >= 1


def test_index_policy_and_credits(tmp_path, monkeypatch):
    ix = run(
        "benefits",
        "index",
        "--indicators",
        str(EX / "indicators.csv"),
        "--cost",
        "carbon_intensity_t_per_10k_yuan",
        "--cost",
        "cost_yuan_per_t",
        "--json",
    )
    assert math.isclose(sum(ix["weights"].values()), 1.0)
    q = run("policy", "quota", "--supply-mwh", "2000000", "--emissions", "1700000", "--price", "low=60", "--json")
    assert q["quota_t"] == pytest.approx(2e6 * 0.8177) and q["position_t"] == pytest.approx(1_635_400 - 1_700_000)
    assert q["cost"]["low"] == pytest.approx(64_600 * 60)
    t = run("policy", "carbon-tax", "--table", str(EX / "carbon_tax.csv"), "--rate", "50", "--json")
    assert t[0]["borne"] == pytest.approx(20_000)
    gp = run("policy", "green-power", "--electricity-mwh", "1000", "--green-mwh", "300", "--json")
    assert gp["market_t"] == pytest.approx(700 * 0.5856)
    te = run("policy", "techno", "--table", str(EX / "technologies.csv"), "--json")
    assert te[0]["payback_years"] == pytest.approx(2e6 / 850_000)
    ws = str(tmp_path / "w.duckdb")
    monkeypatch.setenv("COREDUCE_CREDITS_KEY", "k")
    c = run("credits", "record", "--trips", str(EX / "trips.csv"), "--store", ws, "--json")
    assert c["total_kg"] == pytest.approx(31 * 0.5155)
    tot = run("credits", "total", "--by", "all", "--store", ws, "--json")
    assert tot[0]["reduction_kg"] == pytest.approx(31 * 0.5155)
    monkeypatch.delenv("COREDUCE_CREDITS_KEY")
    r = runner.invoke(main, ["credits", "record", "--trips", str(EX / "trips.csv"), "--store", ws])
    assert r.exit_code == 2 and "COREDUCE_CREDITS_KEY" in r.output


def test_a_synergy_run_reproduces(tmp_path):
    """The recorded synergy run is a registered entrypoint: ``ledger reproduce`` recomputes the same outputs."""
    import coreduce.benefits.jobs  # noqa: F401  (registers the entrypoints, as ENTRYPOINT_MODULES would)

    ws = str(tmp_path / "w.duckdb")
    out = run(
        "benefits",
        "synergy",
        "--before",
        str(EX / "inventory_before.csv"),
        "--after",
        str(EX / "inventory_after.csv"),
        "--json",
        "--store",
        ws,
    )
    rep = Ledger(Store(ws)).reproduce(out["run_id"])
    assert rep.matched, rep.as_dict()


def test_health_groups_grandfathering_and_trade():
    g = run("benefits", "health", "--groups", str(EX / "age_groups.csv"), "--delta-pm25", "5", "--json")
    f = 1 - math.exp(-math.log(1.06) / 10 * 5)
    assert g["avoided"] == pytest.approx((0.003 * 600_000 + 0.04 * 200_000) * f)
    q = run(
        "policy", "quota", "--history", "100", "--history", "120", "--reduction", "0.1", "--emissions", "120", "--json"
    )
    assert q["quota_t"] == pytest.approx(99.0) and q["position_t"] == pytest.approx(-21.0)
    t = run(
        "policy",
        "trade",
        "--position",
        "-1000",
        "--price-now",
        "80",
        "--forecast",
        "85",
        "--sd",
        "10",
        "--risk-aversion",
        "0.5",
        "--carry",
        "0.05",
        "--json",
    )
    assert t["action"] == "buy now"
    bad = runner.invoke(main, ["benefits", "health", "--delta-pm25", "5", "--no-record"])
    assert bad.exit_code == 2 and "--population" in bad.output

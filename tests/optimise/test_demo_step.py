"""The proposed demo decision step and its report section."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from coreduce.ledger import Ledger
from coreduce.optimise.demo_step import episode_problem, report_html, step_decide

from .test_curtail import tiny


def test_step_records_decisions_claims_and_section(store):
    ctx = SimpleNamespace(results={"episode_problem": tiny(cap=85.0)}, sections=[])
    led = Ledger(store)
    with led.run("demo.decide") as run:
        step_decide(ctx, run)
    res = ctx.results["curtailment"]
    assert res.objective == pytest.approx(11800.0)  # the hand-solved case of test_curtail
    dec = store.read("decisions")
    assert len(dec[dec["item"] != "co-benefits"]) == 6
    cb = dec[dec["item"] == "co-benefits"].set_index("quantity")["value"]
    assert cb["kg_SO2_per_t_CO2"] == pytest.approx(800.0 / 378.0)  # 0.8 t SO2 per 378 t CO2 (test_curtail)
    cl = led.claims(run.run_id).set_index("pollutant")["amount"]
    assert cl["CO2"] == pytest.approx(378.0)
    sec = ctx.sections[0]
    assert sec["id"] == "decide" and sec["table"]["Enterprise (sector)"].tolist() == ["steel", "cement"]
    frag = report_html(res)
    assert '<section id="decide">' in frag and "steel" in frag and "378.0 t" in frag
    # by hand: 200 kg NOx, 500 kg PM2.5, 800 kg SO2 per 378 t CO2
    assert "Co-benefits: per t of CO2 cut, 0.529 kg NOx, 1.32 kg PM2.5, 2.12 kg SO2 cut" in frag


def test_bundled_episode_is_the_worst_72h_with_sources():
    p = episode_problem()
    assert len(p["hours"]) == 72 and len(p["enterprises"]) == 8
    assert "MEASURED" in p["sources"]["hours, background"]
    assert max(max(r["background"]) for r in p["receptors"]) > 250

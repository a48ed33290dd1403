"""The report section and the demo step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest

from coreduce.benefits.report import baseline_table, benefits_section, section_html, step

INV = pd.DataFrame(
    {
        "sector": ["heat", "heat", "heat", "power", "power"],
        "pollutant": ["CO2", "SO2", "NOx", "CO2", "SO2"],
        "amount": [1000.0, 2.0, 1.0, 500.0, 0.5],
    }
)


def test_baseline_table_by_hand():
    t = baseline_table(INV).set_index("sector")
    assert t.loc["heat", "SO2_kg_per_t_CO2"] == pytest.approx(2.0)
    assert t.loc["power", "SO2_kg_per_t_CO2"] == pytest.approx(1.0)
    assert t.loc["heat", "APeq"] == pytest.approx(2000 / 0.95 + 1000 / 0.95)


@dataclass
class Ctx:
    results: dict[str, Any] = field(default_factory=dict)
    sections: list[dict[str, Any]] = field(default_factory=list)


def test_step_without_and_with_a_decision():
    ctx = Ctx(results={"inventory": INV})
    step(ctx, None)
    assert ctx.sections[0]["title"] == "Co-control baseline"
    after = INV.assign(amount=[800.0, 1.0, 1.0, 500.0, 0.5])
    ctx2 = Ctx(results={"inventory": INV, "decision": {"measure": "m", "before": INV, "after": after}})
    step(ctx2, None)
    t = ctx2.sections[0]["table"].set_index("pollutant")
    assert t.loc["SO2", "kg_per_t_co2"] == pytest.approx(1000 / 200)
    h = section_html(ctx2.sections[0])
    assert h.startswith('<section id="cobenefits">') and "plotly" in h and "<table" in h
    assert "<table" in section_html(benefits_section(INV))


def test_baseline_counts_scope_1_only():
    inv = pd.concat(
        [
            INV.assign(scope="1"),
            pd.DataFrame({"sector": ["heat"], "pollutant": ["CO2"], "amount": [1000.0], "scope": ["2"]}),
        ]
    )
    t = baseline_table(inv).set_index("sector")
    assert t.loc["heat", "CO2_t"] == 1000.0 and t.loc["heat", "SO2_kg_per_t_CO2"] == pytest.approx(2.0)

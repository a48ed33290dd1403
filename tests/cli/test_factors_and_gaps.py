"""``coreduce factors`` shows the precedence and marks the factor the engine uses; ``account`` reports factor gaps
(issue 11 item 5: a gap is never a silent zero; the precedence is shown by ``coreduce factors``)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from coreduce.cli.main import app

runner = CliRunner()
HEADER = "entity,sector,period_start,period_end,activity_type,amount,unit,region\n"
CASES = [  # entity, sector, activity_type, amount, unit, region
    ("a", "power", "coal_bituminous", 100, "kt", "CN-GD"),
    ("b", "industry", "coal_bituminous", 100, "kt", "CN-GD"),
    ("c", "power", "coal_bituminous", 100, "kt", "US-AL"),
    ("d", "residential", "natural_gas", 100, "TJ", "US-AL"),
]


def _used(activity_type: str, pollutant: str, sector: str, region: str) -> list[dict]:
    res = runner.invoke(
        app,
        ["factors", "--activity-type", activity_type, "--pollutant", pollutant, "--sector", sector,
         "--region", region, "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["factors"]
    return [r for r in rows if r["used"].startswith("yes")]


def test_factors_marks_the_factor_the_engine_uses(tmp_path):
    act = tmp_path / "a.csv"
    act.write_text(HEADER + "".join(f"{e},{s},2022-01-01,2023-01-01,{t},{a},{u},{r}\n" for e, s, t, a, u, r in CASES))
    out = tmp_path / "det.csv"
    res = runner.invoke(app, ["account", "--no-store", "--detail", "--activity", str(act), "--out", str(out)])
    assert res.exit_code == 0, res.output
    det = pd.read_csv(out)
    checked = 0
    for e, s, t, _, _, r in CASES:
        for pol in ("CO2", "NOx", "SO2"):
            row = det[(det["entity"] == e) & (det["pollutant"] == pol)]
            used = _used(t, pol, s, r)
            assert len(used) == 1, (e, pol, used)
            assert used[0]["factor_set"] == row["factor_set"].item(), (e, pol)
            assert used[0]["value"] == pytest.approx(row["factor_value"].item(), rel=1e-12), (e, pol)
            checked += 1
    assert checked == 12


def test_factors_shows_the_precedence_of_the_region():
    res = runner.invoke(app, ["factors", "--activity-type", "coal_bituminous", "--pollutant", "NOx", "--region",
                              "Guangdong", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["region"] == "CN-GD"
    prec = payload["precedence"]
    assert [p["order"] for p in prec] == list(range(1, len(prec) + 1))
    assert {p["jurisdiction"] for p in prec} <= {"CN", "*", ""}  # no US or EU set for a Chinese province
    # the CN sets come before the sets declared for every jurisdiction
    juris = [p["jurisdiction"] for p in prec if p["origin"] != "user"]
    assert juris == sorted(juris, key=lambda j: j == "*")
    text = runner.invoke(app, ["factors", "--activity-type", "coal_bituminous", "--pollutant", "NOx", "--region",
                               "CN-GD"]).stdout  # fmt: skip
    assert "factor-set precedence (region CN-GD; first match wins)" in text
    assert "yes (power)" in text


def test_unknown_region_is_one_line():
    res = runner.invoke(app, ["factors", "--region", "Atlantis"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1


def test_account_reports_factor_gaps_in_summary_and_json(tmp_path):
    act = tmp_path / "a.csv"
    act.write_text(
        "entity,sector,period_start,period_end,activity_type,amount,unit\n"
        "plant,power,2022-01-01,2023-01-01,coal_bituminous,100,kt\n"
    )
    fac = tmp_path / "f.csv"
    fac.write_text(
        "activity_type,pollutant,value,unit,source\n"
        "coal_bituminous,CO2,94600,kg/TJ,IPCC 2006 Vol.2 Ch.1 Table 1.4\n"
        "coal_bituminous,SO2,16,kg/t,2*S*k with S=1% k=0.8\n"
    )
    args = ["account", "--no-store", "--activity", str(act), "--factors", str(fac), "--only-user-factors"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o.csv"), "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    # 100 kt × 25.8 TJ/kt × 94.6 t/TJ = 244 068 t CO2; 100 000 t × 16 kg/t = 1 600 t SO2
    assert payload["totals_t"]["CO2"] == pytest.approx(244_068.0, rel=1e-12)
    assert payload["totals_t"]["SO2"] == pytest.approx(1_600.0, rel=1e-12)
    gaps = {(g["activity_type"], g["pollutant"]) for g in payload["gaps"]}
    # every other pollutant the library accounts has no factor: reported, not a silent zero
    assert gaps == {("coal_bituminous", p) for p in ("CH4", "CO", "N2O", "NOx", "PM10", "PM2.5", "VOCs")}
    text = runner.invoke(app, [*args, "--out", str(tmp_path / "o2.csv")]).stdout
    assert "7 factor gap(s)" in text
    assert "  coal_bituminous NOx (power): 1 row(s), no NOx factor for coal_bituminous in the library" in text

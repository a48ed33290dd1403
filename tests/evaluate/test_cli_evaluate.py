"""``coreduce evaluate threshold`` / ``run``: the issue's example command, JSON output, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coreduce.cli.evaluate import app

HANSEN = Path(__file__).resolve().parents[3] / "shared" / "data" / "hansen1999_investment" / "hansen1999.csv"
if not HANSEN.exists():
    HANSEN = Path("/work/shared/data/hansen1999_investment/hansen1999.csv")


def test_threshold_json_matches_reference():
    args = ["threshold", "--data", str(HANSEN), "--y", "i", "--x", "q1,q2,q3,d1,qd1", "--rx", "c1", "--q", "d1"]
    args += ["--entity", "id", "--time", "year", "--n", "2", "--trim", "0.01", "--grid", "0", "--bootstrap", "50"]
    args += ["--seed", "3", "--convention", "all_periods", "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["ssr_linear"] == pytest.approx(17.861099, abs=1e-6)
    assert [s["threshold"] for s in d["stages"]] == pytest.approx([0.0157, 0.54003])
    assert d["stages"][1]["ssr"] == pytest.approx(17.723696, abs=1e-6)
    assert d["stages"][0]["n_boot"] == 50 and d["seed"] == 3
    assert len(d["coefficients"]) == 5 + 3


def test_threshold_user_error_is_one_line(tmp_path):
    args = ["threshold", "--data", str(tmp_path / "no.csv"), "--y", "i", "--rx", "c1", "--q", "d1"]
    args += ["--entity", "id", "--time", "year"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "expected an existing CSV or Parquet file" in r.output


def test_run_writes_report(tmp_path, city_panel):
    p = tmp_path / "p.csv"
    city_panel.to_csv(p, index=False)
    spec = tmp_path / "s.toml"
    spec.write_text(
        f'[data]\npath = "{p.name}"\nentity = "city"\ntime = "year"\n'
        '[model]\ny = "cei"\nx = "ai"\ncontrols = ["c1"]\n[baseline]\nstepwise = false\n'
    )
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "tables" / "baseline.tex").is_file()

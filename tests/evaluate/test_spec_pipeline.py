"""Spec-driven runs: a spec's tables equal the direct library calls; the report folder holds every format; the
shipped example runs on the real city panel and prints its data caveats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import coreduce
from coreduce.errors import InputError
from coreduce.evaluate import callaway_santanna, run_spec, twfe
from coreduce.evaluate.pipeline import sha256_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "evaluate" / "low_carbon_pilots.toml"
CITY_PANEL = EXAMPLE.parent / "../../../shared/data/china_city_panel/china_city_panel_2000_2023.csv.gz"


@pytest.fixture
def panel_csv(tmp_path, city_panel):
    d = city_panel.copy()
    rng = np.random.default_rng(0)
    coh = rng.choice([0, 2014, 2017], size=284, p=[0.5, 0.25, 0.25])
    d["cohort"] = coh[d.city]
    d["big"] = (d.city % 4 == 0).astype(int)
    p = tmp_path / "panel.csv"
    d.to_csv(p, index=False)
    return p


def spec_for(path: Path) -> dict:
    return {
        "data": {"path": str(path), "entity": "city", "time": "year", "derive": {"cei2": "cei * 2"}},
        "model": {"y": "cei", "x": "ai", "controls": ["c1", "c2"], "cluster": "city"},
        "baseline": {"stepwise": True},
        "robustness": {"variants": [{"label": "y x 2", "y": "cei2"}, {"label": "W1", "winsor": 1}]},
        "did": {"cohort": "cohort"},
        "heterogeneity": {"group": "big", "reps": 20, "seed": 1},
        "mediation": {"m": "c3", "reps": 20, "seed": 1},
        "report": {"title": "Test", "notes": "Synthetic data."},
    }


def test_spec_tables_equal_direct_calls(panel_csv, tmp_path):
    out = tmp_path / "report"
    res = run_spec(spec_for(panel_csv), out=out)
    d = pd.read_csv(panel_csv)
    direct = twfe(d, "cei", "ai", ["c1", "c2"], entity="city", time="year", cluster="city")
    b = res["results"]["baseline"]
    assert [m["coef"]["ai"] for m in b] == pytest.approx([m.coef["ai"] for m in direct], rel=1e-12)
    rob = res["results"]["robustness"]
    assert rob[1]["coef"]["ai"] == pytest.approx(2 * rob[0]["coef"]["ai"], rel=1e-10)
    cs = callaway_santanna(d, "cei", "city", "year", "cohort").aggregate("simple")
    assert res["results"]["did"]["simple"]["att"] == pytest.approx(cs.att[0], rel=1e-12)
    for name in ("baseline", "robustness", "heterogeneity", "mediation"):
        for ext in ("html", "tex", "md", "csv"):
            assert (out / "tables" / f"{name}.{ext}").is_file()
    assert (out / "tables" / "did_event.csv").is_file() and (out / "event_study.json").is_file()
    saved = json.loads((out / "results.json").read_text())
    assert saved["data"]["sha256"] == sha256_file(panel_csv)
    assert saved["heterogeneity"]["permutation"]["seed"] == 1
    page = (out / "index.html").read_text()
    assert "Synthetic data." in page and page.count("<table") >= 5
    md = (out / "tables" / "baseline.md").read_text()
    assert f"{direct[2].coef['ai']:.3f}" in md


def test_bad_spec_is_one_error(panel_csv, tmp_path):
    with pytest.raises(InputError, match="sections among"):
        run_spec({**spec_for(panel_csv), "nonsense": {}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\n")
    with pytest.raises(InputError, match="valid TOML"):
        run_spec(bad)
    spec = spec_for(panel_csv)
    spec["data"]["derive"] = {"z": "nope +"}
    with pytest.raises(InputError, match=r"derive\.z"):
        run_spec(spec)


@pytest.mark.skipif(not CITY_PANEL.exists(), reason="shared/data/china_city_panel is not beside the checkout")
def test_shipped_example_runs(tmp_path):
    res = run_spec(EXAMPLE, out=tmp_path / "lcp")
    info = res["results"]["data"]
    assert info["entities"] == 292 and info["periods"] == [2005, 2019] and info["rows"] == 292 * 15
    assert "行行文库" in res["tables"]["baseline"].notes
    assert {"baseline", "robustness", "did_event", "heterogeneity", "mediation", "threshold_tests"} <= set(
        res["tables"]
    )
    assert "Data caveats" in (tmp_path / "lcp" / "index.html").read_text()


def test_recorded_run_verifies_and_reproduces(panel_csv, tmp_path):
    from coreduce.evaluate.jobs import run_spec_recorded
    from coreduce.ledger import Ledger

    lines = [f'[data]\npath = "{panel_csv}"\nentity = "city"\ntime = "year"\n']
    lines.append('[model]\ny = "cei"\nx = "ai"\ncontrols = ["c1", "c2"]\ncluster = "city"\n')
    lines.append('[baseline]\nstepwise = true\n[did]\ncohort = "cohort"\n[report]\nnotes = "Synthetic."\n')
    path = tmp_path / "spec.toml"
    path.write_text("".join(lines))
    led = Ledger(str(tmp_path / "ws.duckdb"))
    res = run_spec_recorded(path, led, out=tmp_path / "rep")
    rec = led.get(res["run_id"])
    assert rec["status"] == "ok" and rec["kind"] == "evaluate"
    assert rec["entrypoint"] == "coreduce.evaluate.jobs:evaluate_spec"
    why = json.loads(rec["explanation"])
    assert why["baseline"]["coef"] == pytest.approx(res["results"]["baseline"][-1]["coef"]["ai"])
    assert why["caveats"] == "Synthetic."
    inputs = json.loads(rec["inputs"])
    assert inputs["data"]["sha256"] == sha256_file(panel_csv)
    assert led.verify().ok
    assert led.reproduce(res["run_id"]).status == "matched"
    led.store.close()  # DuckDB: one process at a time
    # and from a fresh process (pyfixest's demeaner is not bit-reproducible across processes: hashed outputs are
    # rounded to 12 significant digits)
    code = (
        "import coreduce.evaluate.jobs; from coreduce.ledger import Ledger; "
        f"print(Ledger({str(tmp_path / 'ws.duckdb')!r}).reproduce({res['run_id']!r}).status)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(coreduce.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.strip().endswith("matched"), out.stderr[-3000:]


def test_hashed_outputs_are_rounded():
    from coreduce.evaluate.jobs import _round

    assert _round({"a": [0.0038490342176776223, 1.0], "b": "x"}) == {"a": [0.00384903421768, 1.0], "b": "x"}
    assert _round(0.0038490342176776223) == _round(0.003849034217677646)

"""The recorded pipelines and the CLI on the real Beijing data (one station) and CEADs, on both backends."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from coreduce.cli.forecast import app
from coreduce.ingest.loaders import find

pytestmark = pytest.mark.skipif(find("beijing-aq") is None, reason="shared Beijing data not present")

runner = CliRunner()


def _dongsi_raw() -> pd.DataFrame:
    """The Dongsi station file read with plain pandas (independent of the loader and the frames)."""
    p = find("beijing-aq")
    f = p / "PRSA_Data_Dongsi_20130301-20170228.csv.gz" if p.is_dir() else p
    d = pd.read_csv(f)
    d["local"] = pd.to_datetime(d[["year", "month", "day", "hour"]])
    return d.set_index("local")["PM2.5"]


def test_backtest_cli_persistence_matches_an_independent_calculation(tmp_path):
    ws = str(tmp_path / "ws.duckdb")
    r = runner.invoke(
        app,
        [
            "backtest",
            "--stations",
            "Dongsi",
            "--models",
            "persistence,seasonal_naive_24",
            "--test-start",
            "2017-02-01",
            "--test-end",
            "2017-02-27",
            "--store",
            ws,
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    rows = {m["model"]: m for m in out["models"]}
    # independent: for each local day D, persistence = last PM2.5 known at D-1 23:00, scored on D's 24 hours
    s = _dongsi_raw()
    errs = []
    for day in pd.date_range("2017-02-01", "2017-02-27"):
        last = s[: day - pd.Timedelta(hours=1)].dropna().iloc[-1]
        truth = s[day : day + pd.Timedelta(hours=23)].dropna()
        errs.extend(np.abs(truth.to_numpy() - last))
    assert rows["persistence"]["mae"] == pytest.approx(np.mean(errs))
    assert rows["persistence"]["n"] == len(errs)
    assert rows["persistence"]["ratio_mae_vs_persistence"] == pytest.approx(1.0)
    assert 0.0 <= rows["seasonal_naive_24"]["coverage_95"] <= 1.0
    assert out["cutoffs"] == 27 and out["unit"] == "ug/m^3"


def test_forecast_run_stores_rows_with_the_run(store):
    from coreduce.forecast.jobs import forecast_outputs, recorded_run

    params = {
        "dataset": "beijing-aq",
        "target": "PM2.5",
        "horizon": 24,
        "stations": ["Dongsi"],
        "model": "persistence",
        "seed": 3,
    }
    out = recorded_run("forecast", forecast_outputs, params, store, model_version="persistence 1")
    fc = store.read("forecasts")
    assert len(fc) == 24 and set(fc["run_id"]) == {out["run_id"]}
    # the data end 2017-02-28 23:00 Beijing = 15:00 UTC: the next issue is 2017-03-01 00:00 local
    assert pd.Timestamp(fc["cutoff"].iloc[0]) == pd.Timestamp("2017-02-28 15:00", tz="UTC")
    assert sorted(fc["horizon"]) == list(range(1, 25))
    assert (fc["point"] == _dongsi_raw().dropna().iloc[-1]).all()  # persistence: the last reading
    q = json.loads(fc["quantiles"].iloc[0])
    assert set(q) == {"0.025", "0.975"} and q["0.025"] <= fc["point"].iloc[0] <= q["0.975"]
    led = store.read("ledger")
    row = led[led["run_id"] == out["run_id"]].iloc[0]
    assert row["status"] == "ok" and int(row["seed"]) == 3 and row["model_version"] == "persistence 1"
    assert row["entrypoint"] == "coreduce.forecast.jobs:forecast_outputs"


def test_peak_cli_json_and_bad_region(tmp_path):
    ws = str(tmp_path / "ws.duckdb")
    r = runner.invoke(
        app,
        [
            "peak",
            "--region",
            "Jiangsu",
            "--source",
            "ceads",
            "--scenario",
            "low_carbon",
            "--n-paths",
            "200",
            "--store",
            ws,
            "--json",
            "--chart",
            str(tmp_path / "p.html"),
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["last_year"] == 2019 and s["last_value_mt"] == pytest.approx(804.594214)
    for k in ("peak_year", "peak_value_mt", "co2_2030_mt", "co2_2060_mt", "cumulative_mt", "run_id"):
        assert k in s
    assert (tmp_path / "p.html").read_text().count("plotly") > 0
    bad = runner.invoke(app, ["peak", "--region", "Atlantis", "--store", ws])
    assert bad.exit_code == 2 and "Atlantis" in bad.output


def test_run_cli_stores_forecasts_and_records_the_model_version(tmp_path):
    from coreduce.store import Store

    ws = str(tmp_path / "ws.duckdb")
    r = runner.invoke(app, ["run", "--stations", "Dongsi", "--model", "seasonal_naive_24", "--seed", "5",
                            "--store", ws, "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["rows"] == 24 and s["series"] == 1 and s["model"] == "seasonal_naive_24"
    st = Store(ws)
    try:
        fc, led = st.read("forecasts"), st.read("ledger")
    finally:
        st.close()
    assert set(fc["run_id"]) == {s["run_id"]}
    raw = _dongsi_raw()
    # seasonal naive 24 from cutoff 2017-02-28 23:00 local: h=1 is 2017-03-01 00:00 <- 2017-02-28 00:00
    first = fc.sort_values("horizon").iloc[0]
    assert first["point"] == pytest.approx(raw[pd.Timestamp("2017-02-28 00:00")])
    row = led.iloc[-1]
    assert int(row["seed"]) == 5 and row["model_version"] == "1" and row["kind"] == "forecast"
    bad = runner.invoke(app, ["run", "--model", "prophet", "--store", ws])
    assert bad.exit_code == 2 and "prophet" in bad.output


@pytest.mark.parametrize("method", ["stirpat", "ml"])
def test_peak_cli_method_matches_the_library_and_records_its_version(tmp_path, method):
    pytest.importorskip("sklearn")
    from coreduce.forecast.jobs import PEAK_MODEL_VERSIONS
    from coreduce.forecast.peak import peak_path
    from coreduce.store import Store

    ws = str(tmp_path / "ws.duckdb")
    args = ["peak", "--region", "China", "--source", "owid", "--method", method, "--n-paths", "100"]
    r = runner.invoke(app, [*args, "--store", ws, "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    lib = peak_path("China", "owid", "baseline", n_paths=100, seed=0, method=method).summary
    assert s["method"] == method == lib["method"]
    assert s["co2_2030_mt"] == pytest.approx(lib["co2_2030_mt"]) and s["peak_year"] == lib["peak_year"]
    st = Store(ws)
    try:
        led = st.read("ledger")
    finally:
        st.close()
    assert led[led["run_id"] == s["run_id"]].iloc[0]["model_version"] == PEAK_MODEL_VERSIONS[method]
    bad = runner.invoke(app, ["peak", "--region", "China", "--source", "owid", "--method", "lstm", "--store", ws])
    assert bad.exit_code == 2 and "lstm" in bad.output


def _backtest_json(tmp_path, models: str, horizon: int, start: str = "2017-01-01", end: str = "2017-02-27"):
    r = runner.invoke(
        app,
        [
            "backtest",
            "--stations",
            "Dongsi",
            "--models",
            models,
            "--horizon",
            str(horizon),
            "--test-start",
            start,
            "--test-end",
            end,
            "--store",
            str(tmp_path / "ws.duckdb"),
            "--json",
        ],
    )
    return r


def test_backtest_cli_next_hour_model_against_persistence(tmp_path):
    r = _backtest_json(tmp_path, "persistence,lightgbm_next_hour", 1)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    rows = {m["model"]: m for m in out["models"]}
    nh, pe = rows["lightgbm_next_hour"], rows["persistence"]
    # one forecast (h = 1) per issue day at 00:00 Beijing, scored on the same hours as persistence
    assert nh["n"] == pe["n"] and 50 <= nh["n"] <= 58
    assert np.isfinite(nh["mae"]) and np.isfinite(nh["rmse"]) and nh["mae"] > 0
    assert nh["ratio_mae_vs_persistence"] == pytest.approx(nh["mae"] / pe["mae"])
    assert "lightgbm_next_hour" in out["model_versions"] and "next-hour" in out["model_versions"]["lightgbm_next_hour"]
    bad = _backtest_json(tmp_path, "lightgbm_next_hour", 24)
    assert bad.exit_code == 2 and "horizon 1" in bad.output


def test_backtest_cli_lightgbm_ensemble(tmp_path):
    r = _backtest_json(tmp_path, "persistence,lightgbm,lightgbm_ensemble", 24, "2017-02-01", "2017-02-27")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    rows = {m["model"]: m for m in out["models"]}
    ens, one, pe = rows["lightgbm_ensemble"], rows["lightgbm"], rows["persistence"]
    assert ens["n"] == pe["n"] == one["n"] > 0
    assert np.isfinite(ens["mae"]) and ens["ratio_mae_vs_persistence"] == pytest.approx(ens["mae"] / pe["mae"])
    assert out["model_versions"]["lightgbm_ensemble"].startswith("mean of [")
    assert out["model_versions"]["lightgbm_ensemble"].count("lightgbm ") == 3

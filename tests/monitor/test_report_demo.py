"""The alert timeline, the report section and the proposed demo step on the bundled example stack."""

from __future__ import annotations

from types import SimpleNamespace

import plotly.graph_objects as go

from coreduce.ledger import Ledger
from coreduce.monitor.demo import GAS_TURBINE_NOX_LIMIT_UG_M3, step_monitor
from coreduce.monitor.report import section_html
from coreduce.store import Store


def test_demo_step_stores_explained_alerts_in_its_run(tmp_path):
    st = Store(tmp_path / "ws.duckdb")
    led = Ledger(st)
    ctx = SimpleNamespace(store=st, results={}, sections=[])
    with led.run("demo.monitor") as run:
        step_monitor(ctx, run)
    a = st.read("alerts")
    out = ctx.results["monitor"]
    assert len(a) == len(out["alerts"]) > 0 and set(a["run_id"]) == {run.run_id}
    assert out["train_rows"] + out["test_rows"] == 7384  # UCI 2015 file: 7,384 hours
    # every alert explained or tagged, with expected value and band
    assert a["path"].notna().all() and a["expected"].notna().all() and a["band_high"].notna().all()
    lim = a[a["kind"] == "limit"]
    assert (lim["band_high"] == 50_000.0).all() and (lim["observed"] > 50_000.0).all()
    dyn = a[a["kind"] == "dynamic"]
    assert (dyn["observed"] > dyn["band_high"]).all() and dyn["path"].str.startswith("NOx_high -> ").all()
    assert led.get(run.run_id)["status"] == "ok"
    sec = ctx.sections[0]
    assert sec["id"] == "monitoring" and isinstance(sec["figure"], go.Figure) and len(sec["table"]) <= 20
    html = section_html(out["scored"], out["alerts"], title="NOx", unit="ug/m^3", limit=GAS_TURBINE_NOX_LIMIT_UG_M3)
    assert html.startswith("<section") and "fixed limit" in html
    assert "limit_exceeded -&gt; fixed regulatory limit exceeded" in html  # graph paths, HTML-escaped

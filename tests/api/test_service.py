"""What the routes answer, against independent computations: summaries and inventories (pandas over the stored
rows), acknowledgements (a ledger record), decisions as background jobs (SKIP LOCKED, progress, co-benefits
by hand), and the single-user DuckDB mode."""

from __future__ import annotations

import time

import pandas as pd
import psycopg
import pytest

from coreduce.api.synthetic import TENANTS

from .conftest import bearer, make_client


def _inventory(url: str) -> pd.DataFrame:
    with psycopg.connect(url) as con:
        cur = con.execute("SELECT entity, sector, region, period_start, pollutant, amount FROM inventory")
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.mark.postgres
@pytest.mark.parametrize(("role", "tenant"), [("government", "ca"), ("park", "ca_park"), ("enterprise", "cb_e1")])
def test_summary_and_inventory_match_pandas(client, deployment, role, tenant):
    ws = deployment.ws
    owner = {**ws.owner["site"], **ws.owner["entity"]}
    inv = _inventory(deployment.url)
    mine = inv[inv["entity"].map(owner).isin(ws.scope(tenant)) & (inv["pollutant"] == "CO2")]
    assert len(mine) > 0
    s = client.get("/api/v1/summary", headers=bearer(deployment, role, tenant)).json()
    assert s["total"] == pytest.approx(mine["amount"].sum(), rel=1e-12)
    by_sector = mine.groupby("sector")["amount"].sum()
    assert {d["sector"]: d["amount"] for d in s["by_sector"]} == pytest.approx(by_sector.to_dict(), rel=1e-12)
    by_day = mine.groupby(mine["period_start"].dt.tz_convert("UTC").dt.date.astype(str))["amount"].sum()
    assert {d["day"]: d["amount"] for d in s["by_day"]} == pytest.approx(by_day.to_dict(), rel=1e-12)
    assert s["sites"] == sum(1 for t in ws.owner["site"].values() if t in ws.scope(tenant))
    r = client.get("/api/v1/inventory", params={"by": "entity", "pollutant": "CO2"},
                   headers=bearer(deployment, role, tenant)).json()  # fmt: skip
    got = {d["key"]: d["amount"] for d in r["items"]}
    assert got == pytest.approx(mine.groupby("entity")["amount"].sum().to_dict(), rel=1e-12)


@pytest.mark.postgres
def test_acknowledge_is_recorded_and_scoped(deployment):
    ws = deployment.ws
    own = next(a for a, t in ws.owner["alert"].items() if t == "cb_e1")
    foreign = next(a for a, t in ws.owner["alert"].items() if t == "ca_park_e1")
    h = bearer(deployment, "enterprise", "cb_e1")
    with make_client(deployment) as c:
        n0 = len(c.get("/api/v1/ledger", headers=h).json()["items"])
        assert c.post(f"/api/v1/alerts/{foreign}/ack", headers=h).status_code == 404
        r = c.post(f"/api/v1/alerts/{own}/ack", headers=h, json={"note": "stack checked"})
        assert r.status_code == 200
        body = r.json()
        assert (body["status"], body["acknowledged_by"]) == ("acknowledged", "enterprise@cb_e1")
        led = c.get("/api/v1/ledger", headers=h).json()["items"]
        assert len(led) == n0 + 1 and led[0]["kind"] == "monitor-ack" and led[0]["run_id"] == body["ack_run_id"]
        rec = c.get(f"/api/v1/ledger/{body['ack_run_id']}", headers=h).json()
        assert rec["params"]["alert_ids"] == [own] and rec["params"]["note"] == "stack checked"
        other = bearer(deployment, "enterprise", "ca_park_e1")
        assert c.get(f"/api/v1/ledger/{body['ack_run_id']}", headers=other).status_code == 404
        assert c.get(f"/api/v1/alerts/{foreign}", headers=other).json()["status"] == "open"
        v = c.post("/api/v1/ledger/verify", headers=bearer(deployment, "admin", "*")).json()
        assert v["ok"] is True


@pytest.mark.postgres
def test_skip_locked_gives_two_workers_two_jobs(deployment):
    from coreduce.api.db import Database
    from coreduce.api.jobs import CLAIM_PG, Worker
    from coreduce.api.settings import Settings

    with psycopg.connect(deployment.url) as con:
        con.execute("UPDATE coreduce_jobs SET status = 'held' WHERE status = 'queued'")
        for j in ("skip1", "skip2"):
            con.execute(
                "INSERT INTO coreduce_jobs (job_id, tenant, user_id, kind, params, created_at) "
                "VALUES (%s, 'ca', 'u', 'portfolio', '{}', now())",
                [j],
            )
        con.commit()
        first = con.execute(CLAIM_PG, [pd.Timestamp.now(tz="UTC")]).fetchone()[0]  # transaction left open
        db = Database(deployment.url, Settings(runtime_role=deployment.role))
        w = Worker(db)
        second = w.claim()
        w.stop()
        db.close_sync()
        assert {first, second["job_id"]} == {"skip1", "skip2"}
        con.rollback()
        con.execute("DELETE FROM coreduce_jobs WHERE job_id IN ('skip1', 'skip2')")
        con.execute("UPDATE coreduce_jobs SET status = 'queued' WHERE status = 'held'")
        con.commit()


@pytest.mark.postgres
@pytest.mark.slow
def test_portfolio_decision_as_a_job(deployment):
    gov = bearer(deployment, "government", "cb")
    with make_client(deployment, worker=True) as c:
        t0 = time.monotonic()
        body = {"example": "portfolio_measures_beijing_2016", "targets": {"SO2": 2000, "CO2": 400000}}
        r = c.post("/api/v1/decisions/portfolio", headers=gov, json=body)
        assert r.status_code == 202 and time.monotonic() - t0 < 5
        href = r.json()["href"]
        assert c.get(href, headers=bearer(deployment, "government", "ca")).status_code == 404
        for _ in range(240):
            job = c.get(href, headers=gov).json()
            if job["status"] in ("ok", "error"):
                break
            assert 0 <= job["progress"] < 1
            time.sleep(0.5)
        assert job["status"] == "ok", job
        assert job["progress"] == 1.0 and job["tenant"] == "cb"
        d = c.get(f"/api/v1/decisions/{job['run_id']}", headers=gov).json()
        cuts = {cl["pollutant"]: cl["amount"] for cl in d["claims"]}
        assert cuts["SO2"] == pytest.approx(2000, rel=1e-6) and cuts["CO2"] == pytest.approx(400000, rel=1e-6)
        # co-benefits by hand: kg SO2 cut per t CO2 cut
        assert d["co_benefits"]["kg_per_t_co2"]["SO2"] == pytest.approx(cuts["SO2"] * 1000 / cuts["CO2"])
        assert d["rows"] and d["explanation"]
        assert c.get(f"/api/v1/decisions/{job['run_id']}", headers=bearer(deployment, "park", "ca_park")).status_code \
            == 404  # fmt: skip


def test_duckdb_single_user_mode(tmp_path):
    from fastapi.testclient import TestClient

    from coreduce.api import synthetic
    from coreduce.api.app import create_app
    from coreduce.api.auth import create_token
    from coreduce.store import Store

    url = str(tmp_path / "ws.duckdb")
    with Store(url) as st:
        ws = synthetic.build(st, days=3)
        inv = st.read("inventory")
    with TestClient(create_app(url)) as c:
        db = c.app.state.coreduce.db
        tokens = {t: create_token(db, f"u@{t}", "enterprise", t) for t, *_ in TENANTS}
        assert c.get("/api/v1/health").json()["backend"] == "duckdb"
        for t, tok in tokens.items():
            h = {"Authorization": f"Bearer {tok}"}
            sites = {s["site_id"] for s in c.get("/api/v1/sites", headers=h).json()["items"]}
            assert sites == {s for s, o in ws.owner["site"].items() if o in ws.scope(t)}
            owner = {**ws.owner["site"], **ws.owner["entity"]}
            mine = inv[inv["entity"].map(owner).isin(ws.scope(t)) & (inv["pollutant"] == "SO2")]
            s = c.get("/api/v1/summary", params={"pollutant": "SO2"}, headers=h).json()
            assert s["total"] == pytest.approx(float(mine["amount"].sum()), rel=1e-12)
            foreign = next(s for s, o in ws.owner["site"].items() if o not in ws.scope(t))
            assert c.get(f"/api/v1/sites/{foreign}", headers=h).status_code == 404


@pytest.mark.slow
def test_duckdb_decision_job_and_ack(tmp_path):
    """The in-process job queue on DuckDB: a portfolio job stored, recorded and given to the tenant; an ack."""
    from fastapi.testclient import TestClient

    from coreduce.api import synthetic
    from coreduce.api.app import create_app
    from coreduce.api.auth import create_token
    from coreduce.store import Store

    url = str(tmp_path / "ws.duckdb")
    with Store(url) as st:
        ws = synthetic.build(st, days=2)
    with TestClient(create_app(url)) as c:
        db = c.app.state.coreduce.db
        h = {"Authorization": f"Bearer {create_token(db, 'g', 'government', 'cb')}"}
        other = {"Authorization": f"Bearer {create_token(db, 'o', 'government', 'ca')}"}
        body = {"example": "portfolio_measures_beijing_2016", "targets": {"SO2": 2000, "CO2": 400000}}
        href = c.post("/api/v1/decisions/portfolio", headers=h, json=body).json()["href"]
        for _ in range(240):
            job = c.get(href, headers=h).json()
            if job["status"] in ("ok", "error"):
                break
            time.sleep(0.5)
        assert job["status"] == "ok", job
        assert c.get(f"/api/v1/decisions/{job['run_id']}", headers=h).json()["claims"]
        assert c.get(f"/api/v1/decisions/{job['run_id']}", headers=other).status_code == 404
        alert = next(a for a, t in ws.owner["alert"].items() if t == "cb_e1")
        assert c.post(f"/api/v1/alerts/{alert}/ack", headers=other).status_code == 404
        assert c.post(f"/api/v1/alerts/{alert}/ack", headers=h).json()["status"] == "acknowledged"
        assert c.post("/api/v1/ledger/verify", headers=h).json()["ok"] is True


def test_ledger_tampering_is_reported_without_naming_foreign_runs(tmp_path):
    """An owner-side UPDATE of a ledger record breaks the chain: verify says so; the record is named only to
    the tenant whose run it is (and the admin)."""
    import duckdb
    from fastapi.testclient import TestClient

    from coreduce.api import synthetic
    from coreduce.api.app import create_app
    from coreduce.api.auth import create_token
    from coreduce.store import Store

    url = str(tmp_path / "ws.duckdb")
    with Store(url) as st:
        ws = synthetic.build(st, days=1)
    victim = next(r for r, t in ws.owner["run"].items() if t == "cb")
    con = duckdb.connect(url)
    con.execute('UPDATE ledger SET params = \'{"tenant": "forged"}\' WHERE run_id = ?', [victim])
    con.close()
    with TestClient(create_app(url)) as c:
        db = c.app.state.coreduce.db
        mine = c.post(
            "/api/v1/ledger/verify", headers={"Authorization": f"Bearer {create_token(db, 'g', 'government', 'cb')}"}
        )
        theirs = c.post(
            "/api/v1/ledger/verify", headers={"Authorization": f"Bearer {create_token(db, 'h', 'government', 'ca')}"}
        )
    assert mine.json()["ok"] is False and mine.json()["first_bad_run_id"] == victim
    assert theirs.json()["ok"] is False and theirs.json()["first_bad_run_id"] is None
    assert theirs.json()["problem"] == "a record outside your scope"


@pytest.mark.postgres
def test_summary_follows_an_inventory_change(deployment):
    """The summary reads per-tenant daily totals; a write to the inventory shows within seconds, exactly."""
    h = bearer(deployment, "enterprise", "cb_e1")
    ent = next(s for s, t in deployment.ws.owner["site"].items() if t == "cb_e1")
    with make_client(deployment) as c:
        before = c.get("/api/v1/summary", headers=h).json()
        with psycopg.connect(deployment.url, autocommit=True) as con:
            con.execute(
                "INSERT INTO inventory (entity, sector, region, period_start, period_end, activity_type, pollutant, "
                "amount, unit, method) VALUES (%s, 'heat', 'x', '2030-01-01', '2030-01-02', 'total', 'CO2', 1234.5, "
                "'t', 'test')",
                [ent],
            )
            try:
                for _ in range(100):
                    after = c.get("/api/v1/summary", headers=h).json()
                    if after["total"] != before["total"]:
                        break
                    time.sleep(0.1)
                assert after["total"] == pytest.approx(before["total"] + 1234.5, rel=1e-12)
                assert {"day": "2030-01-01", "amount": 1234.5} in after["by_day"]
                assert {"sector": "heat", "amount": 1234.5} in after["by_sector"]
            finally:
                con.execute("DELETE FROM inventory WHERE method = 'test'")

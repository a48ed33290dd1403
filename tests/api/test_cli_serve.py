"""``coreduce serve tenants example`` and ``coreduce serve token create`` on a workspace holding the example
city (Beijing 2016): the three views see what the example tenancy gives them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")


@pytest.fixture(scope="module")
def city_workspace(tmp_path_factory):
    from coreduce.demo import account_example_city, load_example_city
    from coreduce.store import Store

    url = str(tmp_path_factory.mktemp("city") / "ws.duckdb")
    city = load_example_city("beijing_2016")
    inv = account_example_city()["inventory"]
    with Store(url) as st:
        st.ingest({"sites": city["sites"], "inventory": inv}, source="test")
    return url, inv, city["sites"]


def test_example_tenancy_and_tokens_through_the_cli(city_workspace):
    from fastapi.testclient import TestClient

    from coreduce.api.app import create_app
    from coreduce.cli.main import app as cli

    url, inv, sites = city_workspace
    run = CliRunner().invoke
    r = run(cli, ["serve", "tenants", "example", "--store", url])
    assert r.exit_code == 0, r.output
    tok = {}
    for role, tenant in (("government", "beijing"), ("park", "bj_industrial_park"), ("enterprise", "bj_power")):
        r = run(cli, ["serve", "token", "create", "--user", role, "--role", role, "--tenant", tenant, "--store", url])
        assert r.exit_code == 0, r.output
        tok[role] = r.output.strip().splitlines()[-1]
        assert tok[role].startswith("crd_")
    r = run(cli, ["serve", "token", "create", "--user", "x", "--role", "king", "--tenant", "beijing", "--store", url])
    assert r.exit_code == 2 and "role 'king'" in r.output
    r = run(cli, ["serve", "token", "create", "--user", "x", "--role", "park", "--tenant", "nowhere", "--store", url])
    assert r.exit_code == 2 and "nowhere" in r.output

    power = sorted(e for e in inv["entity"].unique() if e.startswith("Production and Supply of Electric Power"))
    industry = sorted(set(inv.loc[inv["sector"] == "industry", "entity"]) - set(power))
    co2 = inv[inv["pollutant"] == "CO2"]
    with TestClient(create_app(url)) as c:

        def entities(role):
            h = {"Authorization": f"Bearer {tok[role]}"}
            items = c.get("/api/v1/inventory", params={"by": "entity", "limit": 10000}, headers=h).json()["items"]
            return {d["key"]: d["amount"] for d in items}

        assert sorted(entities("enterprise")) == power
        assert sorted(entities("park")) == sorted(power + industry)
        gov = entities("government")
        assert sorted(gov) == sorted(co2["entity"].unique())
        assert sum(gov.values()) == pytest.approx(co2["amount"].sum(), rel=1e-12)
        h = {"Authorization": f"Bearer {tok['government']}"}
        assert {s["site_id"] for s in c.get("/api/v1/sites", headers=h).json()["items"]} == set(sites["site_id"])
        h = {"Authorization": f"Bearer {tok['enterprise']}"}
        assert c.get("/api/v1/sites", headers=h).json()["items"] == []  # stations are the city's

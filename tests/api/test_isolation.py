"""Cross-tenant matrix: other tenants' ids on every id-bearing route, every verb, every role → 0 foreign rows.

Run with each layer alone (application check alone: RLS off; row-level security alone: the application's
tenant predicates and object checks off), and once with both off to show that the matrix does find leaks.
A foreign row is recognised by its id: every synthetic id embeds its owner's tenant (``~ca_park_e1~``), runs
and jobs are matched by their ids.
"""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from coreduce.api.auth import ROLES
from coreduce.api.synthetic import TENANTS

from .conftest import gather_limited, serving

pytestmark = pytest.mark.postgres

#: Routes that take an id, by how they take it: (verb, template).  Every foreign id goes on every one.
ID_ROUTES = (
    ("GET", "/api/v1/sites/{id}"),
    ("DELETE", "/api/v1/sites/{id}"),
    ("GET", "/api/v1/observations?site_id={id}"),
    ("GET", "/api/v1/alerts?site_id={id}"),
    ("GET", "/api/v1/alerts/{id}"),
    ("POST", "/api/v1/alerts/{id}/ack"),
    ("PUT", "/api/v1/alerts/{id}"),
    ("GET", "/api/v1/forecasts?series={id}"),
    ("GET", "/api/v1/inventory?by=entity&entity={id}"),
    ("GET", "/api/v1/decisions/{id}"),
    ("PATCH", "/api/v1/decisions/{id}"),
    ("GET", "/api/v1/ledger/{id}"),
    ("DELETE", "/api/v1/ledger/{id}"),
    ("GET", "/api/v1/jobs/{id}"),
    ("DELETE", "/api/v1/jobs/{id}"),
)
#: Lists: what they return must be the caller's only.
LIST_ROUTES = (
    "/api/v1/sites",
    "/api/v1/alerts",
    "/api/v1/forecasts",
    "/api/v1/decisions",
    "/api/v1/ledger",
    "/api/v1/tenants",
    "/api/v1/summary",
    "/api/v1/inventory?by=entity",
    "/api/v1/inventory?by=region",
    "/api/v1/credits",
    "/api/v1/evaluations",
)
PER_MODE = 10_200


def _scope(ws, tenant: str) -> set[str]:
    return ws.scope(tenant)


def _foreign_pattern(ws, scope: set[str]) -> re.Pattern:
    markers = [f"~{t}~" for t, *_ in TENANTS if t not in scope]
    ids = [i for kind in ("run", "job") for i, t in ws.owner.get(kind, {}).items() if t not in scope]
    return re.compile("|".join(re.escape(x) for x in markers + ids))


def _attempts(dep, n: int, seed: int) -> list[tuple[str, str, str, str, re.Pattern]]:
    """(role, tenant, verb, path, foreign-pattern) — every non-admin principal × every foreign id × every id
    route, then the lists; sampled down to ``n`` (the lists always kept)."""
    ws = dep.ws
    all_ids = {i: t for kind in ws.owner.values() for i, t in kind.items()}
    out, lists = [], []
    for tenant, *_ in TENANTS:
        scope = _scope(ws, tenant)
        pat = _foreign_pattern(ws, scope)
        foreign = sorted(i for i, t in all_ids.items() if t not in scope)
        for role in ROLES:
            if role == "admin":
                continue
            for verb, tpl in ID_ROUTES:
                for i in foreign:
                    out.append((role, tenant, verb, tpl.replace("{id}", i), pat))
            for path in LIST_ROUTES:
                lists.append((role, tenant, "GET", path, pat))
    rnd = random.Random(seed)
    if len(out) > n - len(lists):
        out = rnd.sample(out, n - len(lists))
    return out + lists


async def _attempt(client, dep, role, tenant, verb, path, pat) -> tuple[int, str | None]:
    r = await client.request(verb, path, headers={"Authorization": f"Bearer {dep.tokens[(role, tenant)]}"})
    if r.status_code >= 500:
        return r.status_code, f"{role}@{tenant} {verb} {path}: {r.status_code}"
    m = pat.search(r.text)
    return r.status_code, (f"{role}@{tenant} {verb} {path}: {r.status_code} shows {m.group(0)!r}" if m else None)


async def _own_visible(client, dep) -> list[str]:
    """Each principal's own sites, alerts and runs are answered (the layers do not just deny everything)."""
    ws, missing = dep.ws, []
    for tenant, *_ in TENANTS:
        h = {"Authorization": f"Bearer {dep.tokens[('analyst', tenant)]}"}
        for kind, tpl in (("site", "/api/v1/sites/{id}"), ("alert", "/api/v1/alerts/{id}"),
                          ("run", "/api/v1/ledger/{id}"), ("job", "/api/v1/jobs/{id}")):  # fmt: skip
            for i, t in ws.owner[kind].items():
                if t in ws.scope(tenant):
                    r = await client.get(tpl.replace("{id}", i), headers=h)
                    if r.status_code != 200 or i not in r.text:
                        missing.append(f"analyst@{tenant} {kind} {i}: {r.status_code}")
    return missing


def _run(dep, attempts, **overrides) -> tuple[int, list[str], dict[int, int]]:
    async def main():
        async with serving(dep, **overrides) as c:
            assert await _own_visible(c, dep) == []
            return await gather_limited([_attempt(c, dep, *a) for a in attempts])

    results = asyncio.run(main())
    statuses: dict[int, int] = {}
    for st, _ in results:
        statuses[st] = statuses.get(st, 0) + 1
    return len(attempts), [leak for _, leak in results if leak], statuses


@pytest.mark.parametrize(
    ("mode", "overrides"),
    [("application check alone", {"rls": False}), ("row-level security alone", {"app_checks": False})],
)
def test_cross_tenant_matrix_each_layer_alone(deployment, mode, overrides):
    attempts = _attempts(deployment, PER_MODE, seed=len(mode))
    n, leaks, statuses = _run(deployment, attempts, **overrides)
    assert n >= 10_000
    assert leaks == [], f"{mode}: {len(leaks)} foreign rows / errors, e.g. {leaks[:5]}"
    # the foreign ids were really tried: answered 404 (absent or not yours), 403 (role may not), 405 (verb)
    assert statuses.get(404, 0) > 3000, statuses
    assert set(statuses) <= {200, 403, 404, 405}, statuses


def test_matrix_finds_leaks_with_both_layers_off(deployment):
    """The matrix is able to fail: with both layers off the same attempts show foreign rows."""
    _, leaks, _ = _run(deployment, _attempts(deployment, 400, seed=1), rls=False, app_checks=False)
    assert len(leaks) > 50


def test_both_layers_sample_and_own_rows_visible(client, deployment):
    """Both layers on: a sample of the matrix holds, and each principal does see its own rows."""
    _, leaks, _ = _run(deployment, _attempts(deployment, 1500, seed=2))
    assert leaks == []
    ws = deployment.ws
    for tenant, *_ in TENANTS:
        h = {"Authorization": f"Bearer {deployment.tokens[('enterprise', tenant)]}"}
        own_sites = sorted(s for s, t in ws.owner["site"].items() if t in ws.scope(tenant))
        got = sorted(r["site_id"] for r in client.get("/api/v1/sites", headers=h).json()["items"])
        assert got == own_sites
        own_runs = {r for r, t in ws.owner["run"].items() if t in ws.scope(tenant)}
        got_runs = {r["run_id"] for r in client.get("/api/v1/decisions", headers=h).json()["items"]}
        assert got_runs == own_runs
        for r in own_runs:
            assert client.get(f"/api/v1/ledger/{r}", headers=h).status_code == 200
        for j, t in ws.owner["job"].items():
            want = 200 if t in ws.scope(tenant) else 404
            assert client.get(f"/api/v1/jobs/{j}", headers=h).status_code == want


def test_absent_and_foreign_ids_answer_the_same(client, deployment):
    """No existence oracle: a foreign id and an id that exists nowhere give byte-identical answers."""
    h = {"Authorization": f"Bearer {deployment.tokens[('enterprise', 'cb_e1')]}"}
    foreign_site = next(s for s, t in deployment.ws.owner["site"].items() if t == "ca_park_e1")
    foreign_run = next(r for r, t in deployment.ws.owner["run"].items() if t == "ca")
    for real, fake in (
        (f"/api/v1/sites/{foreign_site}", "/api/v1/sites/fac~nobody~9"),
        (f"/api/v1/ledger/{foreign_run}", "/api/v1/ledger/" + "0" * 32),
        (f"/api/v1/decisions/{foreign_run}", "/api/v1/decisions/" + "0" * 32),
    ):
        a, b = client.get(real, headers=h), client.get(fake, headers=h)
        assert (a.status_code, a.content) == (b.status_code, b.content) == (404, b.content)
        assert a.json() == {"error": {"status": 404, "code": "not_found", "message": "not found", "detail": None}}


def test_city_sees_its_park_and_enterprises_only(client, deployment):
    """Scopes nest: the city bureau sees its park's and enterprises' facilities, not the other city's."""
    h = {"Authorization": f"Bearer {deployment.tokens[('government', 'ca')]}"}
    tenants = {r["tenant"] for r in client.get("/api/v1/sites", headers=h).json()["items"]}
    assert tenants == {"ca", "ca_park_e1", "ca_park_e2", "ca_e3"}
    h = {"Authorization": f"Bearer {deployment.tokens[('park', 'ca_park')]}"}
    tenants = {r["tenant"] for r in client.get("/api/v1/sites", headers=h).json()["items"]}
    assert tenants == {"ca_park_e1", "ca_park_e2"}
    h = {"Authorization": f"Bearer {deployment.tokens[('admin', '*')]}"}
    assert len(client.get("/api/v1/sites", headers=h).json()["items"]) == len(deployment.ws.owner["site"])


@pytest.mark.parametrize("overrides", [{"rls": False}, {"app_checks": False}], ids=["app alone", "rls alone"])
def test_aggregates_hold_with_each_layer_alone(deployment, overrides):
    """Aggregates carry no ids to search for: the summary and inventory totals of each principal equal the sum over
    its own scope (computed here from the stored rows) with each layer alone."""
    import pandas as pd
    import psycopg

    with psycopg.connect(deployment.url) as con:
        cur = con.execute("SELECT entity, pollutant, amount FROM inventory WHERE pollutant = 'CO2'")
        inv = pd.DataFrame(cur.fetchall(), columns=["entity", "pollutant", "amount"])
    ws = deployment.ws
    owner = {**ws.owner["site"], **ws.owner["entity"]}
    inv["tenant"] = inv["entity"].map(owner)

    async def main():
        out = []
        async with serving(deployment, **overrides) as c:
            for tenant, *_ in TENANTS:
                h = {"Authorization": f"Bearer {deployment.tokens[('analyst', tenant)]}"}
                s = (await c.get("/api/v1/summary", headers=h)).json()
                i = (await c.get("/api/v1/inventory", params={"by": "region"}, headers=h)).json()
                out.append((tenant, s["total"], sum(d["amount"] for d in i["items"]), s["sites"]))
        return out

    for tenant, summary_total, inventory_total, sites in asyncio.run(main()):
        want = inv.loc[inv["tenant"].isin(ws.scope(tenant)), "amount"].sum()
        assert summary_total == pytest.approx(want, rel=1e-12), tenant
        assert inventory_total == pytest.approx(want, rel=1e-12), tenant
        assert sites == sum(1 for t in ws.owner["site"].values() if t in ws.scope(tenant))

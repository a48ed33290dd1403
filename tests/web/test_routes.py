"""The dashboard's routes without a browser: redirects, pages per role, assets (gzip, ETag, nothing outside
``static/``), on the single-user DuckDB service."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the `serve` extra (FastAPI)")

STATIC = Path(__file__).resolve().parents[2] / "src" / "coreduce" / "web" / "static"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from coreduce.api.app import create_app
    from coreduce.api.auth import create_token
    from coreduce.api.db import Database
    from coreduce.api.settings import Settings
    from coreduce.store import Store

    from .conftest import SITES, TENANTS

    url = str(tmp_path_factory.mktemp("web-routes") / "ws.duckdb")
    with Store(url) as st:
        st.ingest({"tenants": TENANTS, "sites": SITES}, source="tests/web/test_routes.py")
    settings = Settings(worker=False)
    db = Database(url, settings).open_sync()
    tokens = {r: create_token(db, f"{r}-user", r, t) for r, t in (("government", "bj"), ("enterprise", "acme"))}
    db.close_sync()
    with TestClient(create_app(url, settings=settings)) as c:
        c.tokens = tokens
        yield c


def _bearer(client, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.tokens[role]}"}


def test_pages_redirect_to_login_without_a_session(client):
    for path in ("/", "/ui/live", "/ui/forecasts", "/ui/decisions", "/ui/evaluations", "/ui/ledger"):
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/ui/login"), path
    r = client.get("/ui/login")
    assert r.status_code == 200
    assert 'id="login-form"' in r.text


def test_each_role_gets_its_view_and_only_its_buttons(client):
    gov = client.get("/", headers=_bearer(client, "government"))
    ent = client.get("/", headers=_bearer(client, "enterprise"))
    assert "<h1>City overview" in gov.text
    assert 'id="chart-region"' in gov.text
    assert "<h1>Enterprise overview" in ent.text
    assert 'id="chart-entity"' in ent.text
    assert 'id="quota-form"' in ent.text  # an enterprise's quota position
    assert 'id="quota-form"' not in gov.text
    # ledger.verify is for government, analyst and admin (coreduce.api.auth.ACTIONS); decide.* per role
    assert 'id="verify"' in client.get("/ui/ledger", headers=_bearer(client, "government")).text
    assert 'id="verify"' not in client.get("/ui/ledger", headers=_bearer(client, "enterprise")).text
    ent_decisions = client.get("/ui/decisions", headers=_bearer(client, "enterprise")).text
    assert "<option>dispatch</option>" in ent_decisions
    assert "<option>curtail</option>" not in ent_decisions
    # the pages carry no data: no site name appears in the HTML (the script reads it from /api/v1)
    assert "Acme Boiler House" not in ent.text
    assert "Zeta Cement Kiln" not in gov.text


def test_assets_are_gzipped_with_etag_and_revalidate(client):
    body = (STATIC / "plotly-basic.min.js").read_bytes()
    r = client.get("/static/plotly-basic.min.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.content == body  # httpx decodes the gzip body
    assert int(r.headers["content-length"]) < len(body) / 2
    assert r.headers["etag"] == '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    again = client.get("/static/plotly-basic.min.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    plain = client.get("/static/map-style.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json()["sources"] == {}
    assert gzip.decompress(gzip.compress(body)) == body


@pytest.mark.parametrize("name", ["nope.js", "../pages.py", "..%2Fpages.py", "licenses", "/etc/passwd"])
def test_nothing_outside_the_static_folder(client, name):
    r = client.get(f"/static/{name}")
    assert r.status_code == 404
    assert r.json()["error"]["status"] == 404  # the service's one error shape

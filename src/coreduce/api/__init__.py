"""The coreduce service: a FastAPI JSON API over the same library calls as the CLI, tenant-isolated in depth.

Contract (shared with :mod:`coreduce.web`, the dashboard pages)
----------------------------------------------------------------
App factory
    ``coreduce.api.app.create_app(store_url: str | None = None, *, settings: Settings | None = None) -> FastAPI``.
    ``store_url`` None means the demo workspace ``coreduce.duckdb`` (single-user DuckDB mode); a
    ``postgresql://`` URL means the multi-user service (row-level security as the backstop).
    All JSON routes live under ``/api/v1/...``.  The app includes ``coreduce.web.router`` (an ``APIRouter``
    with the pages at ``/`` and ``/ui/...`` and the bundled assets at ``/static/...``) when ``coreduce.web``
    imports (``try: from coreduce.web import router`` / ``except ImportError``).  The web module owns those
    paths; the API never serves them.

Auth
    ``Authorization: Bearer <token>`` header **or** a ``coreduce_token`` cookie.  ``POST /api/v1/session`` with
    JSON ``{"token": "..."}`` checks the token and sets the cookie (HttpOnly, SameSite=Lax, path ``/``);
    ``DELETE /api/v1/session`` clears it.  Tokens are minted by ``coreduce serve token create --user U --role R
    --tenant T`` (printed once; stored hashed) or are JWTs from an external OIDC issuer (``Settings.oidc_issuer``
    / ``oidc_audience`` / ``oidc_jwks``; claims ``sub``, ``coreduce_role``, ``coreduce_tenant``).
    Page code gets the caller with the FastAPI dependency ``coreduce.api.auth.current_principal`` (raises the
    401 JSON error when absent) or ``coreduce.api.auth.optional_principal`` (None when absent).
    ``coreduce.api.auth.Principal(user_id: str, role: str, tenant: str)``; roles ``government``, ``park``,
    ``enterprise``, ``analyst``, ``admin``.  ``coreduce.api.auth.allowed(principal, action, resource) -> bool``
    is the one deny-by-default check (logger ``coreduce.api.auth`` at DEBUG logs every decision).

Tenancy (data, ``schema/tables.csv``)
    ``tenants(tenant, name, kind, parent)``: ``kind`` is ``city`` (a government bureau), ``park`` or
    ``enterprise``; ``parent`` is the park or city above.  ``sites.tenant`` names the enterprise (or park, or
    city) owning a site; inventory/activity ``entity`` and forecast ``series`` are site ids, so they inherit it.
    A principal's *scope* is its tenant and every tenant below it: a city (government) sees its whole city, a
    park its park's enterprises, an enterprise only its own facilities.  ``analyst`` sees its tenant's scope
    read-only and may run scenarios (decisions, calculators); ``admin`` sees everything.

JSON error shape (every route, every status >= 400, incl. 401/403/404/405/422/500)
    ``{"error": {"status": 404, "code": "not_found", "message": "one line", "detail": [...] | null}}``.
    404 answers both "absent" and "not yours" (no existence oracle).

Routes (all GET unless said; list routes take ``limit`` (<= 10000, default 1000) and ``offset``)
    ``/api/v1/health`` (no auth) -> ``{"status": "ok", "backend": "duckdb"|"postgres", "version": str}``
    ``/api/v1/me`` -> ``{"user_id", "role", "tenant", "tenant_name", "scope": [tenant ids], "actions": [...]}``
    ``/api/v1/tenants`` -> ``{"items": [{"tenant", "name", "kind", "parent"}]}`` (the caller's scope)
    ``/api/v1/summary?pollutant=CO2&start=&end=`` -> ``{"pollutant", "unit": "t", "total",
        "by_sector": [{"sector", "amount"}], "by_day": [{"day", "amount"}], "sites": int, "open_alerts": int}``
    ``/api/v1/inventory?by=sector|region|day|entity&pollutant=&sector=&region=&entity=&start=&end=``
        -> ``{"by", "pollutant", "unit": "t", "items": [{"key", "amount"}]}``
    ``/api/v1/sites?kind=`` -> ``{"items": [{"site_id","name","kind","sector","region","lat","lon","tenant"}]}``
    ``/api/v1/sites/{site_id}`` -> one site (404 if absent or not yours)
    ``/api/v1/observations?site_id=&variable=&start=&end=`` -> ``{"items": [{"site_id","ts","variable","value",
        "unit","quality"}]}`` (site_id required to be in scope; returns at most ``limit`` latest-first rows)
    ``/api/v1/alerts?status=open|acknowledged&site_id=`` -> ``{"items": [alert rows of tables.csv]}``
    ``/api/v1/alerts/{alert_id}``; ``POST /api/v1/alerts/{alert_id}/ack`` -> the acknowledged alert
    ``/api/v1/forecasts?series=&variable=&model=`` -> ``{"items": [{"series","variable","cutoff","target_time",
        "horizon","model","point","unit","lo","hi","run_id"}]}`` (``lo``/``hi`` from the widest quantile pair)
    ``POST /api/v1/decisions/{kind}`` kind in curtail|dispatch|portfolio, JSON params -> 202
        ``{"job_id", "status": "queued", "href": "/api/v1/jobs/{job_id}"}``
    ``/api/v1/decisions`` -> ``{"items": [{"run_id","problem","objective","objective_unit","started_at",
        "status"}]}``; ``/api/v1/decisions/{run_id}`` -> ``{"run_id","problem","rows": [...],
        "explanation": {...}, "claims": [...], "co_benefits": {...}|null}``
    ``/api/v1/jobs/{job_id}`` -> ``{"job_id","kind","status": queued|running|ok|error,"progress": 0..1,
        "message","result": {...}|null,"run_id"|null,"created_at","finished_at"}``
    ``POST /api/v1/benefits/{calc}`` calc in synergy|health; ``POST /api/v1/policy/{calc}`` (carbon cost, quota,
        green power) -> the calculator's JSON (same functions as ``coreduce benefits|policy ... --json``)
    ``/api/v1/evaluations`` -> ledger runs of kind evaluate with their summary
    ``/api/v1/credits`` -> citizen credits of the caller's scope
    ``/api/v1/ledger`` -> ``{"items": [{"seq","run_id","kind","user","started_at","status", ...}]}``
    ``/api/v1/ledger/{run_id}`` -> the record incl. explanation and claims; ``POST /api/v1/ledger/verify`` ->
        ``{"ok": bool, "records": int, "problems": [...]}``

Benchmark slot: ``benchmarks/service.py`` prints ``{"summary": {...}, "first_paint": {...}}``; the
``first_paint`` entry is filled by the web side (``coreduce.web`` may expose ``measure_first_paint(base_url)``).
"""

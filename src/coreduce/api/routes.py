"""The JSON routes under ``/api/v1`` (see :mod:`coreduce.api` for the contract).

Every route takes the caller from :func:`coreduce.api.auth.current_principal`, asks
:func:`coreduce.api.auth.require` and reads through :meth:`coreduce.api.db.Database.rows` with the
application's scope predicate; on PostgreSQL row-level security filters the same rows again.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from coreduce.api import auth
from coreduce.api.auth import COOKIE, Principal, Resource, current_principal, require
from coreduce.api.errors import RESPONSES, ApiError, bad_request, not_found

router = APIRouter(prefix="/api/v1", responses=RESPONSES)

Caller = Annotated[Principal, Depends(current_principal)]
Id = Annotated[str, Path(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Text = Annotated[str | None, Query(max_length=200)]
When = Annotated[datetime | None, Query(description="ISO 8601 time, e.g. 2016-01-01T00:00:00Z")]
JSON_FIELDS = ("params", "inputs", "packages", "outputs", "explanation", "contributors", "quantiles")


def _svc(request: Request) -> Any:
    return request.app.state.coreduce


def _db(request: Request) -> Any:
    return request.app.state.coreduce.db


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for c in JSON_FIELDS:
        if isinstance(row.get(c), str):
            try:
                row[c] = json.loads(row[c])
            except ValueError:
                pass
    return row


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# -------------------------------------------------------------------------------------------- session
class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=4000)


@router.get("/health", tags=["service"])
async def health(request: Request) -> dict[str, Any]:
    """Liveness, the backend and the version (no credentials needed)."""
    from coreduce import __version__

    return {"status": "ok", "backend": _db(request).backend, "version": __version__}


@router.post("/session", tags=["service"])
async def session_create(request: Request, body: SessionIn) -> JSONResponse:
    """Check a token and keep it in the ``coreduce_token`` cookie (HttpOnly, SameSite=Lax) for the pages."""
    p = await auth.resolve(_svc(request), body.token)
    if p is None:
        raise ApiError(401, "unauthorized", "token not valid")
    resp = JSONResponse(_me(request, p))
    resp.set_cookie(
        COOKIE, body.token, httponly=True, samesite="lax", secure=_svc(request).settings.cookie_secure, path="/"
    )
    return resp


@router.delete("/session", tags=["service"])
async def session_delete() -> JSONResponse:
    """Forget the cookie."""
    resp = JSONResponse({"status": "signed out"})
    resp.delete_cookie(COOKIE, path="/")
    return resp


def _me(request: Request, p: Principal) -> dict[str, Any]:
    ten = _db(request).tenancy()
    me = ten.tenants.get(p.tenant, {})
    return {
        "user_id": p.user_id,
        "role": p.role,
        "tenant": p.tenant,
        "tenant_name": me.get("name"),
        "tenant_kind": me.get("kind"),
        "scope": sorted(p.scope) if p.scope is not None else None,
        "actions": sorted(a for a, roles in auth.ACTIONS.items() if p.role in roles),
    }


@router.get("/me", tags=["service"])
async def me(request: Request, p: Caller) -> dict[str, Any]:
    """The caller: user, role, tenant, the tenants in scope and the actions the role may take."""
    require(p, "read")
    return _me(request, p)


@router.get("/tenants", tags=["service"])
async def tenants(request: Request, p: Caller) -> dict[str, Any]:
    """The tenants in the caller's scope."""
    require(p, "read")
    db = _db(request)
    if db.backend == "postgres":
        rows = await db.rows(p, "SELECT tenant, name, kind, parent FROM coreduce_tenants_in_scope()")
        if p.scope is not None:
            rows = [r for r in rows if r["tenant"] in p.scope]
    else:
        pred, args = db.scope(p, "tenant", "tenant")
        rows = await db.rows(p, f"SELECT tenant, name, kind, parent FROM tenants WHERE {pred} ORDER BY tenant", args)
    return {"items": rows}


# -------------------------------------------------------------------------------------------- inventory
def _period(start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    sql, args = "", []
    if start is not None:
        sql += " AND period_start >= %s"
        args.append(_utc(start))
    if end is not None:
        sql += " AND period_start < %s"
        args.append(_utc(end))
    return sql, args


@router.get("/summary", tags=["inventory"])
async def summary(
    request: Request,
    p: Caller,
    pollutant: Annotated[str, Query(min_length=1, max_length=20)] = "CO2",
    start: When = None,
    end: When = None,
) -> Response:
    """Emissions of the caller's scope by sector and by day [t], sites and open alerts (one query, one scan of
    the inventory: ``GROUPING SETS``)."""
    require(p, "read")
    db = _db(request)
    ent, ea = db.scope(p, "entity", "entity")
    site, sa = db.scope(p, "site_id", "entity")
    per, pa = _period(start, end)
    if db.backend == "postgres" and start is None and end is None:
        # the daily / per-sector totals per owning tenant (coreduce.api.db.SummaryRefresher keeps them exact),
        # and the JSON built by PostgreSQL (json_agg) rather than row by row in Python
        ten, ta = db.scope(p, "tenant", "tenant")
        sql = f"""
    WITH s AS (SELECT sector, SUM(amount) AS amount FROM coreduce_summary_sector
                WHERE pollutant = %s AND {ten} GROUP BY sector),
         d AS (SELECT day, SUM(amount) AS amount FROM coreduce_summary_day
                WHERE pollutant = %s AND {ten} GROUP BY day)
    SELECT json_build_object(
      'pollutant', CAST(%s AS text), 'unit', 't',
      'total', (SELECT COALESCE(SUM(amount), 0) FROM s),
      'by_sector', COALESCE((SELECT json_agg(json_build_object('sector', sector, 'amount', amount)
                                      ORDER BY amount DESC NULLS LAST, sector) FROM s), '[]'::json),
      'by_day', COALESCE((SELECT json_agg(json_build_object('day', CAST(day AS TEXT), 'amount', amount)
                                   ORDER BY day) FROM d), '[]'::json),
      'sites', (SELECT COUNT(*) FROM sites WHERE {site}),
      'open_alerts', (SELECT COUNT(*) FROM alerts WHERE status = 'open' AND {site})
    )::text AS body"""
        rows = await db.rows(p, sql, [pollutant, *ta, pollutant, *ta, pollutant, *sa, *sa])
        return Response(rows[0]["body"], media_type="application/json")
    sql = f"""
    SELECT CASE WHEN GROUPING(sector) = 0 THEN 'sector' ELSE 'day' END AS k,
           CASE WHEN GROUPING(sector) = 0 THEN sector ELSE CAST(CAST(period_start AS DATE) AS TEXT) END AS key,
           SUM(amount) AS v
      FROM inventory WHERE pollutant = %s AND {ent}{per}
      GROUP BY GROUPING SETS ((sector), (CAST(period_start AS DATE)))
    UNION ALL
    SELECT 'sites', NULL, COUNT(*) FROM sites WHERE {site}
    UNION ALL
    SELECT 'alerts', NULL, COUNT(*) FROM alerts WHERE status = 'open' AND {site}"""
    rows = await db.rows(p, sql, [pollutant, *ea, *pa, *sa, *sa])
    return _summary_response(pollutant, rows)


def _summary_response(pollutant: str, rows: list[dict[str, Any]]) -> JSONResponse:
    by_sector = sorted(
        ({"sector": r["key"], "amount": r["v"]} for r in rows if r["k"] == "sector"), key=lambda d: -(d["amount"] or 0)
    )
    by_day = sorted(({"day": r["key"], "amount": r["v"]} for r in rows if r["k"] == "day"), key=lambda d: d["day"])
    count = {r["k"]: int(r["v"] or 0) for r in rows if r["k"] in ("sites", "alerts")}
    # rows are JSON-able already (Database.rows): answered without FastAPI's re-encoding walk
    return JSONResponse(
        {
            "pollutant": pollutant,
            "unit": "t",
            "total": sum(d["amount"] or 0.0 for d in by_sector),
            "by_sector": by_sector,
            "by_day": by_day,
            "sites": count.get("sites", 0),
            "open_alerts": count.get("alerts", 0),
        }
    )


_BY = {
    "sector": "sector",
    "region": "region",
    "entity": "entity",
    "pollutant": "pollutant",
    "activity_type": "activity_type",
    "day": "CAST(CAST(period_start AS DATE) AS TEXT)",
}


@router.get("/inventory", tags=["inventory"])
async def inventory(
    request: Request,
    p: Caller,
    by: Literal["sector", "region", "day", "entity", "pollutant", "activity_type"] = "sector",
    pollutant: Annotated[str, Query(min_length=1, max_length=20)] = "CO2",
    sector: Text = None,
    region: Text = None,
    entity: Text = None,
    start: When = None,
    end: When = None,
    limit: Limit = 1000,
) -> dict[str, Any]:
    """Emissions [t] of the caller's scope grouped by sector, region (district), day, entity (facility) …"""
    require(p, "read")
    db = _db(request)
    pred, args = db.scope(p, "entity", "entity")
    per, pa = _period(start, end)
    where, wa = "", []
    for col, val in (("sector", sector), ("region", region), ("entity", entity)):
        if val is not None:
            where += f" AND {col} = %s"
            wa.append(val)
    key = _BY[by]
    sql = (
        f"SELECT {key} AS key, SUM(amount) AS amount FROM inventory WHERE pollutant = %s AND {pred}{where}{per} "
        f"GROUP BY {key} ORDER BY amount DESC NULLS LAST, key LIMIT %s"
    )
    rows = await db.rows(p, sql, [pollutant, *args, *wa, *pa, limit])
    return {"by": by, "pollutant": pollutant, "unit": "t", "items": rows}


# -------------------------------------------------------------------------------------------- sites
SITE_COLS = "site_id, name, kind, sector, region, lat, lon, tenant"


@router.get("/sites", tags=["monitoring"])
async def sites(request: Request, p: Caller, kind: Text = None, limit: Limit = 1000, offset: Offset = 0) -> dict:
    """Sites (stations, facilities, plants, meters) of the caller's scope."""
    require(p, "read")
    db = _db(request)
    pred, args = db.scope(p, "site_id", "entity")
    extra, ea = (" AND kind = %s", [kind]) if kind is not None else ("", [])
    rows = await db.rows(
        p, f"SELECT {SITE_COLS} FROM sites WHERE {pred}{extra} ORDER BY site_id LIMIT %s OFFSET %s",
        [*args, *ea, limit, offset],
    )  # fmt: skip
    return {"items": rows}


def _precheck(p: Principal, kind: str, id_: str, owner: str | None) -> None:
    """The object check before any query when the owner is known from the tenancy (application layer on)."""
    if p.scope is not None and not auth.allowed(p, "read", Resource(kind, id_, owner)):
        raise not_found()


async def _site(request: Request, p: Principal, site_id: str) -> dict[str, Any]:
    db = _db(request)
    _precheck(p, "site", site_id, db.tenancy().owner.get(site_id))
    pred, args = db.scope(p, "site_id", "entity")
    rows = await db.rows(p, f"SELECT {SITE_COLS} FROM sites WHERE site_id = %s AND {pred}", [site_id, *args])
    if not rows:
        raise not_found()
    require(p, "read", Resource("site", site_id, db.tenancy().owner.get(site_id)))
    return rows[0]


@router.get("/sites/{site_id}", tags=["monitoring"])
async def site(request: Request, p: Caller, site_id: Id) -> dict[str, Any]:
    """One site (404 if absent or not the caller's)."""
    require(p, "read")
    return await _site(request, p, site_id)


@router.get("/observations", tags=["monitoring"])
async def observations(
    request: Request,
    p: Caller,
    site_id: Annotated[str, Query(min_length=1, max_length=200)],
    variable: Text = None,
    start: When = None,
    end: When = None,
    limit: Limit = 1000,
) -> dict[str, Any]:
    """Readings of one site of the caller's scope, latest first."""
    require(p, "read")
    await _site(request, p, site_id)
    db = _db(request)
    pred, args = db.scope(p, "site_id", "entity")
    where, wa = "", []
    if variable is not None:
        where += " AND variable = %s"
        wa.append(variable)
    if start is not None:
        where += " AND ts >= %s"
        wa.append(_utc(start))
    if end is not None:
        where += " AND ts < %s"
        wa.append(_utc(end))
    rows = await db.rows(
        p,
        f"SELECT site_id, ts, variable, value, unit, quality FROM observations WHERE site_id = %s AND {pred}{where} "
        "ORDER BY ts DESC, variable LIMIT %s",
        [site_id, *args, *wa, limit],
    )
    return {"site_id": site_id, "items": rows}


# -------------------------------------------------------------------------------------------- alerts
ALERT_COLS = (
    "alert_id, site_id, variable, kind, ts_start, ts_end, observed, expected, band_low, band_high, unit, flags, "
    "contributors, path, action, graph_version, status, acknowledged_by, acknowledged_at, run_id"
)


@router.get("/alerts", tags=["monitoring"])
async def alerts(
    request: Request,
    p: Caller,
    status: Literal["open", "acknowledged"] | None = None,
    site_id: Text = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Alerts of the caller's scope, latest first."""
    require(p, "read")
    db = _db(request)
    pred, args = db.scope(p, "site_id", "entity")
    where, wa = "", []
    if status is not None:
        where += " AND status = %s"
        wa.append(status)
    if site_id is not None:
        where += " AND site_id = %s"
        wa.append(site_id)
    rows = await db.rows(
        p,
        f"SELECT {ALERT_COLS} FROM alerts WHERE {pred}{where} ORDER BY ts_start DESC, alert_id LIMIT %s OFFSET %s",
        [*args, *wa, limit, offset],
    )
    return {"items": [_decode(r) for r in rows]}


async def _alert(request: Request, p: Principal, alert_id: str, action: str = "read") -> dict[str, Any]:
    db = _db(request)
    pred, args = db.scope(p, "site_id", "entity")
    rows = await db.rows(p, f"SELECT {ALERT_COLS} FROM alerts WHERE alert_id = %s AND {pred}", [alert_id, *args])
    if not rows:
        raise not_found()
    require(p, action, Resource("alert", alert_id, db.tenancy().owner.get(rows[0]["site_id"])))
    return _decode(rows[0])


@router.get("/alerts/{alert_id}", tags=["monitoring"])
async def alert(request: Request, p: Caller, alert_id: Id) -> dict[str, Any]:
    """One alert with its explanation (graph path, contributors, suggested action)."""
    require(p, "read")
    return await _alert(request, p, alert_id)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


@router.post("/alerts/{alert_id}/ack", tags=["monitoring"])
async def alert_ack(request: Request, p: Caller, alert_id: Id, body: AckIn | None = None) -> dict[str, Any]:
    """Acknowledge an alert: a recorded ``monitor-ack`` run (:func:`coreduce.monitor.alerts.acknowledge`)."""
    require(p, "alerts.ack")
    await _alert(request, p, alert_id, "alerts.ack")  # visible to the caller (both layers), or 404
    db = _db(request)

    def ack() -> str:
        from coreduce.monitor.alerts import acknowledge

        with db.store() as st:
            return acknowledge(st, [alert_id], by=p.user_id, note=body.note if body else None)

    async with _svc(request).write_lock:
        run_id = await asyncio.to_thread(ack)
    await asyncio.to_thread(db.add_run, run_id, p.tenant if p.role != "admin" else _owner_of_alert(db, alert_id),
                            p.user_id)  # fmt: skip
    out = await _alert(request, p, alert_id)
    return {**out, "ack_run_id": run_id}


def _owner_of_alert(db: Any, alert_id: str) -> str:
    rows = db.ops_execute("SELECT site_id FROM alerts WHERE alert_id = %s", [alert_id])
    return db.tenancy().owner.get(rows[0][0], "") if rows else ""


# -------------------------------------------------------------------------------------------- forecasts
@router.get("/forecasts", tags=["forecasts"])
async def forecasts(
    request: Request,
    p: Caller,
    series: Text = None,
    variable: Text = None,
    model: Text = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Forecasts of the caller's series with their intervals (``lo``/``hi``: the widest quantile pair)."""
    require(p, "read")
    db = _db(request)
    pred, args = db.scope(p, "series", "entity")
    where, wa = "", []
    for col, val in (("series", series), ("variable", variable), ("model", model)):
        if val is not None:
            where += f" AND {col} = %s"
            wa.append(val)
    rows = await db.rows(
        p,
        "SELECT series, variable, cutoff, target_time, horizon, model, point, unit, quantiles, run_id FROM forecasts "
        f"WHERE {pred}{where} ORDER BY series, variable, model, cutoff DESC, target_time LIMIT %s OFFSET %s",
        [*args, *wa, limit, offset],
    )
    out = []
    for r in rows:
        q = _decode(r).get("quantiles") or {}
        lo = hi = None
        if isinstance(q, dict) and q:
            try:
                ks = sorted(q, key=float)
                lo, hi = q[ks[0]], q[ks[-1]]
            except (TypeError, ValueError):
                pass
        out.append({**r, "lo": lo, "hi": hi})
    return {"items": out}


# -------------------------------------------------------------------------------------------- decisions / jobs
class DecisionIn(BaseModel):
    """A decision to run: a named example problem (``GET /api/v1/decisions/examples``) or an inline one."""

    model_config = ConfigDict(extra="forbid")
    example: str | None = Field(default=None, max_length=200)
    problem: dict[str, Any] | None = Field(default=None, description="curtail/dispatch problem (docs/optimise.md)")
    measures_csv: str | None = Field(default=None, max_length=2_000_000, description="portfolio measures CSV")
    targets: dict[str, float] | None = Field(default=None, description="portfolio: pollutant -> t/yr")
    time_limit: float | None = Field(default=None, gt=0, le=600)
    uc: bool = False
    rate: float = Field(default=0.04, ge=0, le=1)
    year: int = Field(default=2025, ge=1900, le=2200)


@router.get("/decisions/examples", tags=["decisions"])
async def decision_examples(p: Caller) -> dict[str, Any]:
    """Named example problems by kind."""
    from coreduce.api.jobs import examples

    require(p, "read")
    return examples()


@router.post("/decisions/{kind}", status_code=202, tags=["decisions"])
async def decide(
    request: Request, p: Caller, kind: Literal["curtail", "dispatch", "portfolio"], body: DecisionIn
) -> dict[str, Any]:
    """Queue a curtailment, dispatch or portfolio run as a background job; 202 with the job's URL."""
    from coreduce.api.jobs import new_job_id

    require(p, f"decide.{kind}")
    params = body.model_dump(exclude_none=True)
    if kind == "portfolio":
        if not body.targets:
            raise bad_request("portfolio: targets (pollutant -> t/yr) are required")
        if body.example is None and body.measures_csv is None:
            raise bad_request("portfolio: example or measures_csv is required")
    elif body.example is None and body.problem is None:
        raise bad_request(f"{kind}: example or problem is required")
    if body.example is not None:
        from coreduce.api.jobs import examples

        if body.example not in examples()[kind]:
            raise bad_request(f"example {body.example!r}: not a {kind} example", examples()[kind])
    db = _db(request)
    jid = new_job_id()
    tenant = p.tenant if p.tenant != "*" else ""
    if not tenant:
        raise bad_request("a platform admin has no tenant to run a decision for; use a tenant's token")
    await db.execute(
        p,
        "INSERT INTO coreduce_jobs (job_id, tenant, user_id, kind, params, status, progress, created_at) "
        "VALUES (%s, %s, %s, %s, %s, 'queued', 0, %s)",
        [jid, tenant, p.user_id, kind, json.dumps(params), datetime.now(UTC)],
    )
    _svc(request).notify_worker()
    return {"job_id": jid, "status": "queued", "href": f"/api/v1/jobs/{jid}"}


@router.get("/jobs/{job_id}", tags=["decisions"])
async def job(request: Request, p: Caller, job_id: Id) -> dict[str, Any]:
    """A job's status and progress (0..1), its result and ledger run when done."""
    require(p, "read")
    db = _db(request)
    pred, args = db.scope(p, "tenant", "tenant")
    rows = await db.rows(
        p,
        "SELECT job_id, tenant, user_id, kind, status, progress, message, result, run_id, created_at, started_at, "
        f"finished_at FROM coreduce_jobs WHERE job_id = %s AND {pred}",
        [job_id, *args],
    )
    if not rows:
        raise not_found()
    r = rows[0]
    require(p, "read", Resource("job", job_id, r["tenant"]))
    r["result"] = json.loads(r["result"]) if r.get("result") else None
    return r


@router.get("/decisions", tags=["decisions"])
async def decisions(
    request: Request,
    p: Caller,
    problem: Literal["curtail", "dispatch", "portfolio"] | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Decisions of the caller's scope, one per run, latest first."""
    require(p, "read")
    db = _db(request)
    pred, args = db.scope(p, "d.run_id", "run")
    extra, ea = (" AND d.problem = %s", [problem]) if problem else ("", [])
    rows = await db.rows(
        p,
        "SELECT d.run_id, d.problem, MAX(d.objective) AS objective, MAX(d.objective_unit) AS objective_unit, "
        "COUNT(*) AS rows, MAX(l.started_at) AS started_at, MAX(l.status) AS status "
        f"FROM decisions d LEFT JOIN ledger l ON l.run_id = d.run_id WHERE {pred}{extra} "
        "GROUP BY d.run_id, d.problem ORDER BY MAX(l.started_at) DESC NULLS LAST, d.run_id LIMIT %s OFFSET %s",
        [*args, *ea, limit, offset],
    )
    return {"items": rows}


async def _run_record(request: Request, p: Principal, run_id: str) -> dict[str, Any]:
    db = _db(request)
    _precheck(p, "run", run_id, db.tenancy().runs.get(run_id))
    pred, args = db.scope(p, "run_id", "run")
    rows = await db.rows(p, f"SELECT * FROM ledger WHERE run_id = %s AND {pred}", [run_id, *args])
    if not rows:
        raise not_found()
    require(p, "read", Resource("run", run_id, db.tenancy().runs.get(run_id)))
    rec = _decode(rows[0])
    rec["claims"] = await db.rows(
        p,
        f"SELECT seq, pollutant, amount, unit, basis, note FROM claims WHERE run_id = %s AND {pred} ORDER BY seq",
        [run_id, *args],
    )
    return rec


def _co_benefits(claims: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Co-benefits of claimed cuts: kg of each pollutant cut per t CO2 cut and air-pollutant equivalents
    (:func:`coreduce.benefits.synergy.apeq`, statutory pollution-equivalent values)."""
    from coreduce.benefits.synergy import apeq
    from coreduce.units import conversion_factor

    cuts: dict[str, float] = {}
    for c in claims:
        try:
            cuts[c["pollutant"]] = cuts.get(c["pollutant"], 0.0) + float(c["amount"]) * conversion_factor(
                str(c["unit"]), "t"
            )
        except Exception:
            continue
    if not cuts:
        return None
    co2 = cuts.get("CO2", cuts.get("CO2e"))
    return {
        "cuts_t": cuts,
        "apeq": apeq(cuts),
        "kg_per_t_co2": {k: v * 1000.0 / co2 for k, v in cuts.items() if co2 and k not in ("CO2", "CO2e")},
    }


@router.get("/decisions/{run_id}", tags=["decisions"])
async def decision(request: Request, p: Caller, run_id: Id) -> dict[str, Any]:
    """A decision: its rows, explanation, claims per pollutant and co-benefits."""
    require(p, "read")
    rec = await _run_record(request, p, run_id)
    db = _db(request)
    pred, args = db.scope(p, "run_id", "run")
    rows = await db.rows(
        p,
        "SELECT problem, item, period_start, quantity, value, unit, objective, objective_unit, note FROM decisions "
        f"WHERE run_id = %s AND {pred} ORDER BY item, period_start, quantity LIMIT 20000",
        [run_id, *args],
    )
    if not rows:
        raise not_found()
    return {
        "run_id": run_id,
        "problem": rows[0]["problem"],
        "objective": rows[0]["objective"],
        "objective_unit": rows[0]["objective_unit"],
        "rows": rows,
        "explanation": rec.get("explanation"),
        "claims": rec["claims"],
        "co_benefits": _co_benefits(rec["claims"]),
        "started_at": rec.get("started_at"),
        "status": rec.get("status"),
    }


# -------------------------------------------------------------------------------------------- calculators
class Amount(BaseModel):
    pollutant: str = Field(min_length=1, max_length=20)
    amount: float = Field(allow_inf_nan=False)
    unit: str = Field(default="t", max_length=20)


class SynergyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    before: list[Amount] = Field(min_length=1, max_length=100)
    after: list[Amount] = Field(min_length=1, max_length=100)
    measure: str = Field(default="measure", max_length=200)


class HealthIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delta_pm25: float = Field(ge=-1000, le=1000, description="PM2.5 cut, annual mean [ug/m3]")
    population: float = Field(ge=0, le=1e10)
    baseline_mortality: float = Field(ge=0, le=1)
    crf: Literal["krewski2009", "who2021", "loglinear", "gemm"] = "krewski2009"
    rr: float | None = Field(default=None, gt=0, le=100)
    per: float = Field(default=10.0, gt=0, le=1000)
    baseline_pm25: float | None = Field(default=None, ge=0, le=2000)
    vsl: float | None = Field(default=None, ge=0, le=1e12)


def _user_error(exc: Exception) -> ApiError:
    from coreduce.cli._common import error_line

    return bad_request(error_line(exc).removeprefix("error: "))


async def _calc(fn: Any) -> Any:
    from coreduce.api.db import clean
    from coreduce.errors import CoreduceError

    try:
        return clean(await asyncio.to_thread(fn))
    except (CoreduceError, ValueError, KeyError, TypeError, ZeroDivisionError, ArithmeticError) as exc:
        raise _user_error(exc) from None


def _records(df: Any) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records", force_ascii=False))


@router.post("/benefits/synergy", tags=["co-benefits"])
async def benefits_synergy(p: Caller, body: SynergyIn) -> dict[str, Any]:
    """kg pollutant cut per t CO2 cut, elasticity, quadrant and APeq (:func:`coreduce.benefits.synergy.synergy`)."""
    require(p, "calculate")
    import pandas as pd

    from coreduce.benefits.synergy import synergy

    def run() -> Any:
        b = pd.DataFrame([a.model_dump() for a in body.before])
        a = pd.DataFrame([a.model_dump() for a in body.after])
        return {"measure": body.measure, "synergy": _records(synergy(b, a, measure=body.measure))}

    return await _calc(run)


@router.post("/benefits/health", tags=["co-benefits"])
async def benefits_health(p: Caller, body: HealthIn) -> dict[str, Any]:
    """Avoided deaths and their value from a PM2.5 cut (:func:`coreduce.benefits.jobs.health_outputs`)."""
    require(p, "calculate")
    from coreduce.benefits.jobs import health_outputs

    def run() -> Any:
        out = health_outputs(**body.model_dump())
        return {**out["explanation"], "table": _records(out["health"])}

    return await _calc(run)


class QuotaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supply_mwh: float | None = Field(default=None, ge=0, le=1e12)
    history: list[Annotated[float, Field(ge=0, le=1e12)]] | None = Field(default=None, max_length=50)
    reduction: float = Field(default=0.0, ge=0, le=1)
    unit_class: str = Field(default="coal_conventional_above_300MW", max_length=100)
    year: int = Field(default=2022, ge=2000, le=2100)
    plan: str = Field(default="cn_ets_2021_2022", max_length=100)
    emissions: float | None = Field(default=None, ge=0, le=1e12)
    prices: dict[str, Annotated[float, Field(ge=0, le=1e6)]] | None = None


@router.post("/policy/quota", tags=["policy"])
async def policy_quota(p: Caller, body: QuotaIn) -> dict[str, Any]:
    """ETS quota (benchmark or grandfathering), compliance position and carbon cost (as ``coreduce policy quota``)."""
    require(p, "calculate")
    from coreduce.policy import carbon_cost, compliance_position, grandfathering_quota, plan_quota

    def run() -> Any:
        if body.history:
            q: dict[str, Any] = {
                "quota_t": grandfathering_quota(body.history, body.reduction),
                "method": "grandfathering",
            }
        elif body.supply_mwh is not None:
            q = plan_quota(body.unit_class, body.year, body.supply_mwh, plan=body.plan)
        else:
            raise ValueError("supply_mwh (benchmark method) or history (grandfathering) is required")
        res = dict(q)
        if body.emissions is not None:
            pos = compliance_position(q["quota_t"], body.emissions)
            res.update(pos)
            if body.prices:
                res["cost"] = carbon_cost(pos["position_t"], body.prices)
        return res

    return await _calc(run)


class GreenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    electricity_mwh: float = Field(ge=0, le=1e12)
    green_mwh: float = Field(default=0.0, ge=0, le=1e12)
    region: str = Field(default="CN", max_length=50)
    year: int = Field(default=2022, ge=2000, le=2100)


@router.post("/policy/green-power", tags=["policy"])
async def policy_green_power(p: Caller, body: GreenIn) -> dict[str, Any]:
    """Location- vs market-based scope 2 of a purchase with green power."""
    require(p, "calculate")
    from coreduce.policy import scope2_green_power

    return await _calc(lambda: scope2_green_power(body.electricity_mwh, body.green_mwh, body.region, body.year))


class TaxRow(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    emissions_t: float = Field(ge=0, le=1e12)
    output: float = Field(gt=0, le=1e15)
    pass_through: float | None = Field(default=None, ge=0, le=1)


class TaxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[TaxRow] = Field(min_length=1, max_length=1000)
    rate: float = Field(ge=0, le=1e5)
    pass_through: float | None = Field(default=None, ge=0, le=1)


@router.post("/policy/carbon-tax", tags=["policy"])
async def policy_carbon_tax(p: Caller, body: TaxIn) -> dict[str, Any]:
    """Carbon-tax incidence per enterprise or sector."""
    require(p, "calculate")
    import pandas as pd

    from coreduce.policy import carbon_tax

    def run() -> Any:
        df = pd.DataFrame([r.model_dump(exclude_none=True) for r in body.rows])
        return {"items": _records(carbon_tax(df, body.rate, pass_through=body.pass_through))}

    return await _calc(run)


class TradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    position_t: float = Field(ge=-1e12, le=1e12)
    price_now: float = Field(ge=0, le=1e6)
    forecast: float = Field(ge=0, le=1e6)
    sd: float = Field(default=0.0, ge=0, le=1e6)
    risk_aversion: float = Field(default=0.0, ge=0, le=100)
    carry: float = Field(default=0.0, ge=-1, le=1)


@router.post("/policy/trade", tags=["policy"])
async def policy_trade(p: Caller, body: TradeIn) -> dict[str, Any]:
    """When to close an allowance position."""
    require(p, "calculate")
    from coreduce.policy import trading_decision

    return await _calc(
        lambda: trading_decision(
            body.position_t, body.price_now, body.forecast, body.sd, risk_aversion=body.risk_aversion, carry=body.carry
        )
    )


# -------------------------------------------------------------------------------------------- ledger
LEDGER_LIST = (
    "seq, run_id, kind, user, started_at, finished_at, duration_s, status, entrypoint, energy_kwh, emissions_kg, "
    "claimed_reduction_t, net_reduction_t, record_hash"
)


async def _ledger_rows(request: Request, p: Principal, kind_sql: str, kind_args: list[Any], limit: int,
                       offset: int) -> list[dict[str, Any]]:  # fmt: skip
    db = _db(request)
    pred, args = db.scope(p, "run_id", "run")
    cols = LEDGER_LIST.replace("user,", '"user",')
    return await db.rows(
        p,
        f"SELECT {cols} FROM ledger WHERE {pred}{kind_sql} ORDER BY seq DESC LIMIT %s OFFSET %s",
        [*args, *kind_args, limit, offset],
    )


@router.get("/ledger", tags=["ledger"])
async def ledger(request: Request, p: Caller, kind: Text = None, limit: Limit = 100, offset: Offset = 0) -> dict:
    """Ledger records of the caller's runs, latest first."""
    require(p, "read")
    ks, ka = (" AND kind = %s", [kind]) if kind is not None else ("", [])
    return {"items": await _ledger_rows(request, p, ks, ka, limit, offset)}


@router.get("/ledger/{run_id}", tags=["ledger"])
async def ledger_show(request: Request, p: Caller, run_id: Id) -> dict[str, Any]:
    """One record with its explanation, inputs, outputs and claims."""
    require(p, "read")
    return await _run_record(request, p, run_id)


@router.post("/ledger/verify", tags=["ledger"])
async def ledger_verify(request: Request, p: Caller) -> dict[str, Any]:
    """Recompute the hash chain (:meth:`coreduce.ledger.Ledger.verify`); problems are named only for the
    caller's runs (the whole chain is checked: one altered record breaks every later link)."""
    require(p, "ledger.verify")
    db = _db(request)

    def run() -> Any:
        from coreduce.ledger import Ledger

        with db.store() as st:
            return Ledger(st).verify()

    res = await asyncio.to_thread(run)
    mine = p.role == "admin" or (res.first_bad_run_id in db.tenancy().ids("run", p.scope or frozenset()))
    n = len(await _ledger_rows(request, p, "", [], 10_000_000, 0)) if p.role != "admin" else res.n
    return {
        "ok": bool(res.ok),
        "status": res.status,
        "records_in_scope": n,
        "problem": res.problem if mine else (None if res.ok else "a record outside your scope"),
        "first_bad_run_id": res.first_bad_run_id if mine else None,
        "head_hash": res.head_hash if p.role == "admin" else None,
    }


@router.get("/evaluations", tags=["ledger"])
async def evaluations(request: Request, p: Caller, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Panel-evaluation runs of the caller's scope with their summaries (explanations)."""
    require(p, "read")
    db = _db(request)
    pred, args = db.scope(p, "run_id", "run")
    rows = await db.rows(
        p,
        "SELECT seq, run_id, kind, started_at, status, params, explanation FROM ledger "
        f"WHERE kind LIKE 'evaluate%%' AND {pred} ORDER BY seq DESC LIMIT %s OFFSET %s",
        [*args, limit, offset],
    )
    return {"items": [_decode(r) for r in rows]}


@router.get("/credits", tags=["ledger"])
async def credits(request: Request, p: Caller, by: Literal["citizen", "mode", "all"] = "all") -> dict[str, Any]:
    """Citizen green-travel credits [kg CO2] recorded by the caller's scope (pseudonymous ids)."""
    require(p, "read")
    db = _db(request)
    pred, args = db.scope(p, "c.run_id", "run")
    rows = await db.rows(
        p,
        "SELECT c.run_id, c.amount, c.unit, c.note FROM claims c JOIN ledger l ON l.run_id = c.run_id "
        f"WHERE l.kind = 'credits' AND l.status = 'ok' AND {pred} ORDER BY c.run_id, c.seq",
        args,
    )
    import re

    from coreduce.units import conversion_factor

    agg: dict[str, float] = {}
    total, runs = 0.0, set()
    for r in rows:
        m = re.match(r"citizen:(\S+) mode:(\S+)", r.get("note") or "")
        if not m:
            continue
        kg = float(r["amount"]) * conversion_factor(str(r["unit"]), "kg")
        total += kg
        runs.add(r["run_id"])
        key = m.group(1) if by == "citizen" else m.group(2)
        agg[key] = agg.get(key, 0.0) + kg
    if by == "all":
        return {"by": by, "unit": "kg", "items": [{"reduction_kg": total, "claims": len(rows), "runs": len(runs)}]}
    return {"by": by, "unit": "kg", "items": [{by: k, "reduction_kg": v} for k, v in sorted(agg.items())]}

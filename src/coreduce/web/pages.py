"""Routes of the dashboard: the pages (Jinja2 templates) and the bundled static files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coreduce.api.auth import Principal, allowed, optional_principal

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR / "templates"

#: Pollutants offered on the overview (the inventory's pollutants, schema/tables.csv ``inventory.pollutant``).
POLLUTANTS = ("CO2", "CO2e", "SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs")

#: Navigation: (href, label, page key).
NAV = (
    ("/", "Overview", "overview"),
    ("/ui/live", "Live", "live"),
    ("/ui/forecasts", "Forecasts", "forecasts"),
    ("/ui/decisions", "Decisions", "decisions"),
    ("/ui/evaluations", "Evaluations", "evaluations"),
    ("/ui/ledger", "Ledger", "ledger"),
)

#: The overview each role gets: a city bureau's, a park operator's or an enterprise's.  Analysts see their
#: tenant's scope as the bureau does (read-only); admins see everything, also with the city layout.
_ROLE_VIEW = {
    "government": ("government", "City overview"),
    "park": ("park", "Park overview"),
    "enterprise": ("enterprise", "Enterprise overview"),
    "analyst": ("government", "Analyst overview"),
    "admin": ("government", "Administrator overview"),
}

# Static files are served from a fixed list made at import (no path from the request reaches the file system).
_STATIC_FILES: dict[str, Path] = {
    p.relative_to(STATIC_DIR).as_posix(): p for p in sorted(STATIC_DIR.rglob("*")) if p.is_file()
}
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".md": "text/markdown"}


def _fingerprint() -> str:
    """First 12 hex digits of the SHA-256 over the static files: the cache-busting query of asset URLs."""
    h = hashlib.sha256()
    for name, path in _STATIC_FILES.items():
        h.update(name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


_ASSET_VERSION = _fingerprint()

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
_env.globals["static"] = lambda name: f"/static/{name}?v={_ASSET_VERSION}"

router = APIRouter(include_in_schema=False)


def view_for_role(role: str) -> tuple[str, str]:
    """The overview layout and title of a role.

    Parameters
    ----------
    role : str
        ``government``, ``park``, ``enterprise``, ``analyst`` or ``admin``.

    Returns
    -------
    tuple of str
        ``(view, title)``: view is ``government``, ``park`` or ``enterprise``.
    """
    try:
        return _ROLE_VIEW[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(_ROLE_VIEW)}") from None


#: Actions a page offers a button for; the button is drawn only when the API's own check would allow it.
BUTTON_ACTIONS = ("alerts.ack", "ledger.verify", "decide.curtail", "decide.dispatch", "decide.portfolio")
DECIDE_KINDS = ("curtail", "dispatch", "portfolio")


def _render(page: str, template: str, principal: Principal | None, **context: Any) -> HTMLResponse:
    can = {a: principal is not None and allowed(principal, a) for a in BUTTON_ACTIONS}
    kinds = [k for k in DECIDE_KINDS if can[f"decide.{k}"]]
    html = _env.get_template(template).render(
        page=page, principal=principal, nav=NAV, can=can, allowed_kinds=kinds, **context
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
def overview(principal: Principal | None = Depends(optional_principal)) -> Response:
    """The role's overview: emissions by sector, district (or facility) and day, the map, sites and alerts."""
    if principal is None:
        return _login_redirect()
    view, title = view_for_role(principal.role)
    return _render(
        "overview", "overview.html", principal, view=view, view_title=title, title=title, pollutants=POLLUTANTS
    )


@router.get("/ui/login", response_class=HTMLResponse)
def login(principal: Principal | None = Depends(optional_principal)) -> Response:
    """The sign-in page (a token form posting to ``/api/v1/session``)."""
    return _render("login", "login.html", principal, title="Sign in")


def _page(page: str, title: str):
    def handler(principal: Principal | None = Depends(optional_principal)) -> Response:
        if principal is None:
            return _login_redirect()
        return _render(page, f"{page}.html", principal, title=title)

    handler.__name__ = f"page_{page}"
    handler.__doc__ = f"The {title.lower()} page."
    return handler


for _key, _title in (
    ("live", "Live readings"),
    ("forecasts", "Forecasts"),
    ("decisions", "Decisions"),
    ("evaluations", "Evaluations and credits"),
    ("ledger", "Ledger"),
):
    router.add_api_route(f"/ui/{_key}", _page(_key, _title), methods=["GET"], response_class=HTMLResponse)


#: Text assets worth compressing (Plotly.js basic: 1.19 MB -> about 0.4 MB gzipped).
_COMPRESSIBLE = (".js", ".css", ".json", ".md", ".txt")


@functools.lru_cache(maxsize=64)
def _asset(name: str) -> tuple[bytes, bytes | None, str]:
    """An asset's bytes, its gzip encoding (text files over 1 kB) and its ETag, made once per process."""
    raw = _STATIC_FILES[name].read_bytes()
    packed = None
    if name.endswith(_COMPRESSIBLE) and len(raw) > 1024:
        packed = gzip.compress(raw, compresslevel=6, mtime=0)
    return raw, packed, '"' + hashlib.sha256(raw).hexdigest()[:20] + '"'


@router.get("/static/{name:path}")
def static(name: str, request: Request) -> Response:
    """A bundled asset (404 for anything not in the package's ``static/`` folder), gzipped when the browser
    accepts it, with an ETag (304 when the browser's copy is current)."""
    path = _STATIC_FILES.get(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    media = _MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    raw, packed, etag = _asset(name)
    # Asset URLs carry ?v=<hash of the files>, so a browser may keep them for a day without asking again.
    headers = {"Cache-Control": "public, max-age=86400", "ETag": etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if packed is not None and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type=media, headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type=media, headers=headers)

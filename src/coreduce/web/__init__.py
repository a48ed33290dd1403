"""The browser dashboard: server-rendered pages over the coreduce JSON API, with every asset bundled.

:data:`router` is a FastAPI ``APIRouter`` that :func:`coreduce.api.app.create_app` includes.  It serves

- the pages: ``/`` (the overview of the caller's role: government, park or enterprise), ``/ui/login``,
  ``/ui/live`` (station and stack readings with alert bands, polled), ``/ui/forecasts`` (with intervals),
  ``/ui/decisions`` (explanations, claims, co-benefits), ``/ui/evaluations`` (evaluation runs, citizen credits)
  and ``/ui/ledger`` (with verify);
- the assets under ``/static/...`` (Plotly.js basic, MapLibre GL JS, a blank offline map style, ``app.js``);
  their versions, hashes and licences are in ``static/VENDORED.md``.

The pages carry no data of their own: ``app.js`` reads it from ``/api/v1/...`` with the session cookie, so a page
shows exactly what the API gives the caller (the API enforces tenancy).  The server side only needs to know
who is signed in, to redirect to the login page and to pick the role's view.

Examples
--------
>>> from coreduce.web import router  # doctest: +SKIP
>>> app.include_router(router)  # doctest: +SKIP
"""

from __future__ import annotations

from coreduce.web.pages import STATIC_DIR, TEMPLATES_DIR, router, view_for_role
from coreduce.web.perf import measure_first_paint

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "measure_first_paint", "router", "view_for_role"]

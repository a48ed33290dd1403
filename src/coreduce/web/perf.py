"""The dashboard's first paint, measured in a real browser (Playwright driving the system Chromium)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

#: Debian's Chromium (``apt-get install chromium``); Playwright's own browser download is never used.
CHROMIUM = "/usr/bin/chromium"

_FCP_JS = "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime ?? null"
# app.js marks "coreduce-loaded" when the page's data is drawn (charts, tables, map added)
_LOADED_JS = "() => (performance.getEntriesByName('coreduce-loaded')[0] || {}).startTime ?? null"


def measure_first_paint(
    base_url: str,
    token: str,
    *,
    path: str = "/",
    runs: int = 5,
    executable_path: str | Path = CHROMIUM,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """First contentful paint of a dashboard page, signed in, with a cold and a warm browser cache.

    Each run opens a fresh browser context (empty cache), signs in through ``POST /api/v1/session`` and loads
    ``path`` twice: the first load fetches every asset (cold), the second is served from the cache (warm).
    The time is the browser's own ``first-contentful-paint`` entry (Paint Timing API), in ms from navigation
    start.

    Parameters
    ----------
    base_url : str
        The service, e.g. ``http://127.0.0.1:8000``.
    token : str
        An API token of the user to sign in as.
    path : str
        The page to load.
    runs : int
        Fresh browser contexts to measure (each gives one cold and one warm figure).
    executable_path : str or Path
        The Chromium binary (headless).
    timeout_s : float
        Per-navigation timeout.

    Returns
    -------
    dict
        ``{"page", "runs", "cold_ms": {"median", "max", "values"}, "warm_ms": {...}, "data_drawn_cold_ms": {...},
        "data_drawn_warm_ms": {...}, "browser"}``: first contentful paint, and the time the page's script had drawn
        its data (the ``coreduce-loaded`` mark of ``app.js``), both in ms from navigation start.

    References
    ----------
    W3C Paint Timing, https://www.w3.org/TR/paint-timing/ (``first-contentful-paint``).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise RuntimeError("measuring first paint needs `playwright` (the dev extra)") from exc
    if not Path(executable_path).exists():
        raise RuntimeError(f"no Chromium at {executable_path}: install it with `apt-get install -y chromium`")
    base = base_url.rstrip("/")
    cold: list[float] = []
    warm: list[float] = []
    loaded_cold: list[float] = []
    loaded_warm: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable_path), headless=True)
        version = browser.version
        try:
            for _ in range(runs):
                context = browser.new_context()
                try:
                    r = context.request.post(f"{base}/api/v1/session", data={"token": token})
                    if not r.ok:
                        raise RuntimeError(f"sign-in failed: HTTP {r.status} {r.text()[:200]}")
                    page = context.new_page()
                    for sink, loaded in ((cold, loaded_cold), (warm, loaded_warm)):
                        page.goto(f"{base}{path}", wait_until="load", timeout=timeout_s * 1000)
                        page.wait_for_function(_FCP_JS, timeout=timeout_s * 1000)
                        sink.append(float(page.evaluate(_FCP_JS)))
                        page.wait_for_function(_LOADED_JS, timeout=timeout_s * 1000)
                        loaded.append(float(page.evaluate(_LOADED_JS)))
                finally:
                    context.close()
        finally:
            browser.close()

    def stats(xs: list[float]) -> dict[str, Any]:
        return {
            "median": round(statistics.median(xs), 1),
            "max": round(max(xs), 1),
            "values": [round(x, 1) for x in xs],
        }

    return {
        "page": path,
        "runs": runs,
        "cold_ms": stats(cold),
        "warm_ms": stats(warm),
        "data_drawn_cold_ms": stats(loaded_cold),
        "data_drawn_warm_ms": stats(loaded_warm),
        "browser": f"chromium {version}",
    }

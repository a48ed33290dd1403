"""The dashboard's bundled assets: what VENDORED.md says is what ships, licences included, nothing remote."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "src" / "coreduce" / "web"
STATIC = WEB / "static"
TEMPLATES = WEB / "templates"


def _vendored_rows() -> list[list[str]]:
    rows = []
    for line in (STATIC / "VENDORED.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 6:
            rows.append(cells)
    return rows


def test_vendored_files_match_their_recorded_sha256():
    rows = _vendored_rows()
    assert {r[0] for r in rows} == {"plotly-basic.min.js", "maplibre-gl.js", "maplibre-gl.css"}
    for name, _package, _version, _member, _licence, sha in rows:
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == sha, f"{name} differs from VENDORED.md"


def test_every_vendored_library_ships_its_licence():
    plotly = (STATIC / "licenses" / "plotly.js-LICENSE.txt").read_text()
    maplibre = (STATIC / "licenses" / "maplibre-gl-LICENSE.txt").read_text()
    assert plotly.startswith("MIT License")
    assert "Redistribution and use in source and binary forms" in maplibre  # BSD-3-Clause
    # the headers of the minified files name the same licences and versions as VENDORED.md
    assert "plotly.js (basic - minified) v4.1.1" in (STATIC / "plotly-basic.min.js").read_text()[:300]
    assert "maplibre-gl-js/blob/v5.24.1/LICENSE.txt" in (STATIC / "maplibre-gl.js").read_text()[:300]


def test_map_style_loads_nothing_remote():
    style = json.loads((STATIC / "map-style.json").read_text())
    assert style["version"] == 8
    assert style["sources"] == {}
    assert "glyphs" not in style
    assert "sprite" not in style
    assert [layer["type"] for layer in style["layers"]] == ["background"]


def test_pages_and_script_reference_only_bundled_assets():
    url = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
    referenced = set()
    for page in TEMPLATES.glob("*.html"):
        text = page.read_text()
        assert "http://" not in text
        assert "https://" not in text, page.name
        referenced |= {m for m in url.findall(text) if not m.startswith(("/", "data:", "#", "{{"))}
    assert not referenced, f"relative or remote asset references: {referenced}"
    script = (STATIC / "app.js").read_text()
    assert not re.search(r"https?://", script)
    # every asset a template asks for through static('...') is in the folder
    asked = {m for page in TEMPLATES.glob("*.html") for m in re.findall(r"static\('([^']+)'\)", page.read_text())}
    assert asked == {"app.css", "app.js", "maplibre-gl.css", "maplibre-gl.js", "plotly-basic.min.js", "map-style.json"}
    assert all((STATIC / name).is_file() for name in asked)


def test_bundle_size_stays_sane():
    total = sum(p.stat().st_size for p in STATIC.rglob("*") if p.is_file())
    assert total < 3_000_000, f"static/ is {total} bytes"

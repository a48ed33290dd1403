"""The HTML report as a reader sees it (issue 11, item 9): tables that fit, read as text, say what they cover.

The demo's report is rendered once; its tables are parsed from the HTML and checked cell by cell.
"""

from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coreduce.demo import account_example_city, run_demo
from coreduce.report import coverage, footprint_table, inventory_context, sector_table, totals_table, write_report
from coreduce.report.format import duration, number, si

E_NOTATION = re.compile(r"\d(\.\d+)?[eE][+-]?\d")
SNAKE_CASE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
BAD_CELLS = {"None", "none", "nan", "NaN", "<NA>", "NaT", "null"}


class _Tables(HTMLParser):
    """Every ``<table>`` of a page as (id of the enclosing section, header cells, body rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.section: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id")
        elif tag == "table":
            self.tables.append({"section": self.section, "head": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            (self.tables[-1]["head"] if self._in_head else self.tables[-1]["rows"]).append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> list[dict]:
    p = _Tables()
    p.feed(page)
    return p.tables


def visible_text(page: str) -> str:
    body = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    body = re.sub(r"<style.*?</style>", " ", body, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report-demo")
    # the core steps: the city accounting and its report (the closed loop's sections: test_closed_loop.py)
    res = run_demo(out, steps=["ingest", "account", "downscale", "report"], progress=False)
    return out, res.paths["report"].read_text(encoding="utf-8")


# ------------------------------------------------------------------------------- the demo's report


def test_no_none_na_or_e_notation_in_any_table(demo_report):
    _, page = demo_report
    ts = tables(page)
    assert len(ts) >= 5
    for t in ts:
        for row in [*t["head"], *t["rows"]]:
            for cell in row:
                assert cell not in BAD_CELLS, (t["section"], row)
                assert cell != "", (t["section"], row)  # a missing value is shown as "–"
                assert not E_NOTATION.search(cell), (t["section"], cell)


def test_headers_are_for_people(demo_report):
    _, page = demo_report
    for t in tables(page):
        for h in t["head"][0] if t["head"] else []:
            assert not SNAKE_CASE.match(h), (t["section"], h)  # emissions_t, factor_value ...
    summary = next(t for t in tables(page) if t["section"] == "summary")
    assert summary["head"] == [["Pollutant", "Emissions [t]", "Sinks [t]", "Net [t]", "Covers"]]


def test_sector_table_has_no_empty_pollutant_column(demo_report):
    _, page = demo_report
    sec = next(t for t in tables(page) if t["section"] == "sectors")
    assert sec["head"] == [["Sector", "CO2 [t]", "SO2 [t]", "NOx [t]", "PM2.5 [t]"]]  # one header row
    rows = {r[0]: r[1:] for r in sec["rows"]}
    # CEADs 2016 power CO2: 31,539,289 t
    assert rows["power"][0] == "31,539,289"
    assert "–" in rows["transport"]  # no SO2 factor for any transport fuel: a gap, shown as "–", not 0


def test_summary_states_what_co_pollutant_totals_cover(demo_report):
    from coreduce.demo import account_example_city

    _, page = demo_report
    summary = next(t for t in tables(page) if t["section"] == "summary")
    covers = {r[0]: r[-1] for r in summary["rows"]}
    assert covers["CO2"] == "all activities"
    # the SO2 share recomputed here from the inventory: CO2 of the (entity, sector, fuel) rows that have SO2
    inv = account_example_city()["inventory"]
    inv = inv[inv["scope"].astype(str) != "sink"]  # shares of the emitted CO2
    keys = ["entity", "sector", "activity_type"]
    co2 = inv[inv["pollutant"] == "CO2"].set_index(keys)["amount"]
    has = inv[inv["pollutant"] == "SO2"].set_index(keys).index
    share = co2[co2.index.isin(has)].sum() / co2.sum()
    assert 0 < share < 1
    assert covers["SO2"] == f"activities emitting {100 * share:.2g} % of the CO2 (gaps listed below)"
    text = " ".join(visible_text(page).split())
    assert "gasoline (agriculture, commercial, industry, power, residential" in text
    assert "a gap in the factor library, not a zero emission" in text
    assert "not Beijing-wide" in text


def test_each_chart_says_what_where_and_when(demo_report):
    _, page = demo_report
    natures = re.findall(r'<section id="([^"]+)">\s*<h2>[^<]*</h2>\s*<p class="nature">([^<]*)</p>', page)
    found = dict(natures)
    for sid in ("sectors", "fuels", "daily", "copollutants", "top", "sinks", "airquality"):
        assert sid in found, sid
        assert "Beijing 2016" in found[sid], (sid, found[sid])
    assert found["airquality"].startswith("MEASURED")
    assert found["daily"].startswith("DOWNSCALED")
    assert "2019 daily shape" in htmllib.unescape(found["daily"])
    assert found["sectors"].startswith("DERIVED")
    # the city's accounting report (core steps) has no stack section: the Turkish turbine is not Beijing; in the
    # closed loop it appears only in the labelled monitoring section (test_closed_loop.py)
    assert 'id="stack"' not in page
    assert "Turkey" not in visible_text(page)


def test_no_developer_text_or_workspace_path(demo_report):
    out, page = demo_report
    text = visible_text(page)
    for dev in ("scripts/", "make_example_city", "shared/data", "../shared", "PROVENANCE.md", ".csv.gz"):
        assert dev not in text, dev
    assert str(out) not in page
    assert "workspace.duckdb" not in page
    header = page[page.index("<header>") : page.index("</header>")]
    assert "workspace" not in header


def test_footprint_table_reads_as_quantities(demo_report):
    _, page = demo_report
    fp = next(t for t in tables(page) if t["section"] == "footprint")
    assert fp["head"] == [["Step", "Status", "Time", "Energy", "Emissions", "Grid factor", "Method"]]
    steps = [r[0] for r in fp["rows"]]
    assert steps == ["ingest", "account", "downscale", "all steps"]
    for r in fp["rows"]:
        assert re.fullmatch(r"[\d,.]+ [pnµmkMGT]?Wh", r[3]), r
        assert re.fullmatch(r"[\d,.]+ [pnµmkMGT]?g CO2", r[4]), r
    # the table sits in a scrolling wrapper inside its card
    i = page.index('<section id="footprint">')
    assert '<div class="table-wrap">' in page[i : page.index("</section>", i)]


# ------------------------------------------------------------------------------- edge cases, unit level


def test_footprint_table_missing_and_tiny_values():
    fp = pd.DataFrame(
        {
            "kind": ["demo.account", "demo.report"],
            "status": ["ok", None],
            "duration_s": [0.4213, None],
            "energy_kwh": [3.7e-7, np.nan],
            "emissions_kg": [2.1e-4, pd.NA],
            "grid_factor_id": [None, "cn_mee_2022_national"],
            "footprint_method": ["fallback-power-model", pd.NA],
        }
    )
    t = footprint_table(fp)
    # 3.7e-7 kWh = 3.7e-4 Wh = 370 µWh; 2.1e-4 kg = 0.21 g = 210 mg
    assert t.iloc[0].tolist() == ["demo.account", "ok", "0.421 s", "370 µWh", "210 mg CO2", "–", "fallback-power-model"]
    assert t.iloc[1].tolist() == ["demo.report", "–", "–", "–", "–", "cn_mee_2022_national", "–"]
    assert t.iloc[2]["Energy"] == "370 µWh"  # total over the rows that have a value


def test_number_formats():
    assert number(89_981_806.04) == "89,981,806"
    assert number(1234.5678) == "1,235"
    assert number(295.46) == "295.5"
    assert number(0.012345) == "0.01235"
    assert number(3.7e-7) == "0.00000037"
    assert number(-0.5) == "-0.5"
    assert number(0.0) == "0"
    assert number(None) == number(np.nan) == number(pd.NA) == "–"
    assert si(3.7e-7, "kWh") == "370 µWh"
    assert si(0.0012, "kWh") == "1.2 Wh"
    assert si(0.99996, "kWh") == "1 kWh"  # not "1,000 Wh"
    assert si(5e-12, "kg") == "5 ng"
    assert duration(125.2) == "2 min 05 s"
    assert duration(0.0421) == "0.0421 s"


def test_coverage_share_and_gap_list():
    # hand-made inventory: two fuels in power, one with an SO2 factor
    base = {"sector": "power", "scope": "1", "unit": "t"}
    inv = pd.DataFrame(
        [
            {**base, "entity": "A", "activity_type": "coal", "pollutant": "CO2", "amount": 300.0},
            {**base, "entity": "A", "activity_type": "coal", "pollutant": "SO2", "amount": 2.0},
            {**base, "entity": "A", "activity_type": "gasoline", "pollutant": "CO2", "amount": 100.0},
        ]
    )
    cov = coverage(inv, ["SO2"]).iloc[0]
    assert cov["co2_share"] == pytest.approx(300 / 400)  # 0.75
    assert cov["missing"] == "gasoline (power)"
    assert totals_table(inv).set_index("Pollutant").loc["SO2", "Covers"] == (
        "activities emitting 75 % of the CO2 (gaps listed below)"
    )
    # the engine's own gap report wins when present (it also names gaps the rows cannot show)
    inv.attrs["gaps"] = pd.DataFrame(
        {"activity_type": ["gasoline", "coal"], "pollutant": ["SO2", "SO2"], "sector": ["power", "transport"],
         "region": ["CN-BJ", "CN-BJ"], "rows": [1, 1], "reason": ["no factor", "no factor"]}
    )  # fmt: skip
    assert coverage(inv, ["SO2"]).iloc[0]["missing"] == "coal (transport); gasoline (power)"


def test_sector_table_columns_have_no_name():
    t = sector_table(account_example_city()["inventory"])
    assert t.columns.name is None
    assert list(t.columns) == ["Sector", "CO2 [t]", "SO2 [t]", "NOx [t]", "PM2.5 [t]"]


def test_report_without_footprint_says_so(tmp_path):
    inv = account_example_city()["inventory"]
    ctx = inventory_context(inv, place="Beijing", year=2016, footprint=None, footprint_recorded=False)
    page = write_report(tmp_path / "r.html", ctx).read_text(encoding="utf-8")
    assert "The compute footprint of this run was not recorded." in page

"""The closed loop run once (issue 15): account → monitor → forecast → decide → co-benefits → report.

The city accounting and its report are checked on the core steps (tests/report/test_report.py, tests/test_demo.py);
this module runs the whole demo ONCE and checks what the capability steps add: each is a recorded ``ok`` ledger run,
the decide step stores its claims, and the report carries their sections with tables a reader can read. The
monitoring step replays the separate example stack (UCI gas turbine, NW Turkey): 'Turkey' may appear only in that
section, whose nature says it is not a Beijing plant; the city's own sections never mention it.
"""

from __future__ import annotations

import re

import pytest
from test_report import E_NOTATION, SNAKE_CASE, tables, visible_text

from coreduce import demo as demo_mod
from coreduce.demo import run_demo

CAPABILITY_SECTIONS = {"monitor": "monitoring", "forecast": "forecast", "decide": "decide", "benefits": "cobenefits"}
SECTION = re.compile(r'<section id="([^"]+)">(.*?)</section>', re.S)


@pytest.fixture(scope="module")
def closed_loop(tmp_path_factory):
    demo_mod.register_capability_steps()
    missing = {n: why for n, why in demo_mod.SKIPPED_STEPS.items() if n in CAPABILITY_SECTIONS}
    assert not missing, f"the closed loop needs every capability extra installed: {missing}"
    out = tmp_path_factory.mktemp("closed-loop")
    res = run_demo(out, progress=False)
    return res, res.paths["report"].read_text(encoding="utf-8")


def test_each_capability_step_is_a_recorded_ok_run(closed_loop):
    from coreduce.ledger import Ledger
    from coreduce.store import Store

    res, _ = closed_loop
    assert list(res.runs) == ["ingest", "account", "downscale", *CAPABILITY_SECTIONS, "report"]
    with Store(str(res.paths["workspace"])) as st:
        led = Ledger(st, create=False)
        runs = led.list().set_index("run_id")
        for step in CAPABILITY_SECTIONS:
            assert runs.loc[res.runs[step], "kind"] == f"demo.{step}"
            assert runs.loc[res.runs[step], "status"] == "ok", step
        assert led.verify().ok
        claims = led.claims(res.runs["decide"])
        assert len(claims) > 0  # the decision's avoided emissions, per pollutant
        assert set(claims["unit"]) == {"t"}
        # the stack site joins the workspace labelled with its own region, beside the 12 Beijing stations
        sites = st.read("sites")
        assert len(sites) == res.rows["sites"] == 13
        assert (sites["region"] == "Turkey").sum() == 1
        assert (sites["region"] == "Beijing").sum() == 12


def test_report_has_the_closed_loop_sections(closed_loop):
    _, page = closed_loop
    ids = [m.group(1) for m in SECTION.finditer(page)]
    for sid in CAPABILITY_SECTIONS.values():
        assert sid in ids, sid
    assert ids.index("monitoring") < ids.index("forecast") < ids.index("decide") < ids.index("cobenefits")


def test_capability_tables_have_human_headers_and_no_e_notation(closed_loop):
    _, page = closed_loop
    ts = [t for t in tables(page) if t["section"] in CAPABILITY_SECTIONS.values()]
    assert {t["section"] for t in ts} == set(CAPABILITY_SECTIONS.values())
    for t in ts:
        for h in t["head"][0] if t["head"] else []:
            assert not SNAKE_CASE.match(h), (t["section"], h)
        for row in t["rows"]:
            for cell in row:
                assert not E_NOTATION.search(cell), (t["section"], cell)


def test_turkey_only_in_the_labelled_stack_section(closed_loop):
    _, page = closed_loop
    sections = {m.group(1): m.group(2) for m in SECTION.finditer(page)}
    mentions = [sid for sid, body in sections.items() if "Turkey" in visible_text(body)]
    assert mentions == ["monitoring"]
    nature = re.search(r'<p class="nature">([^<]*)</p>', sections["monitoring"]).group(1)
    assert "Turkey" in nature and "not a Beijing plant" in nature
    # and nowhere outside the sections (header, summary text)
    outside = SECTION.sub(" ", page)
    assert "Turkey" not in visible_text(outside)


def test_footprint_rows_are_the_steps_run(closed_loop):
    _, page = closed_loop
    fp = next(t for t in tables(page) if t["section"] == "footprint")
    steps = [r[0] for r in fp["rows"]]
    assert steps == ["ingest", "account", "downscale", *CAPABILITY_SECTIONS, "all steps"]
    for r in fp["rows"]:
        assert re.fullmatch(r"[\d,.]+ [pnµmkMGT]?Wh", r[3]), r
        assert re.fullmatch(r"[\d,.]+ [pnµmkMGT]?g CO2", r[4]), r

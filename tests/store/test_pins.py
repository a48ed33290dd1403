"""Pins that exist for a measured reason fail here once the reason is gone (see pyproject comments)."""

import importlib.metadata as md

import duckdb
import pytest
from packaging.version import Version


def test_sqlglot_pin_still_needed_with_ibis_12():
    # ibis 12.0.0 + sqlglot >= 30.18 emits a nameless DROP VIEW (ibis #12101/#12124); drop the pin once
    # ibis is upgraded past the fix.
    assert Version(md.version("sqlglot")) < Version("30.18")
    if Version(md.version("ibis-framework")) > Version("12.0.0"):
        pytest.fail("ibis was upgraded: re-check whether the sqlglot<30.18 pin is still needed")


def test_duckdb_pin_reason_still_present():
    # ibis 12.0.0's DuckDB backend calls fetch_arrow_table(), which duckdb 2.0 removed.
    assert Version(duckdb.__version__) < Version("2")
    assert hasattr(duckdb.connect().execute("select 1"), "fetch_arrow_table")

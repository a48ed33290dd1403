"""Each version pin in pyproject.toml exists for a measured reason; these tests exercise the reason itself.

A test here fails when the installed versions break the thing the pin protects, and says so when the reason is
gone (the pin can then be lifted).  Reasons: ../shared/reference/dependencies.md and the comments in pyproject.toml.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import tomllib
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _declared() -> dict[str, Requirement]:
    """The core requirements of pyproject.toml by (lower-case) name."""
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return {Requirement(d).name.lower(): Requirement(d) for d in deps}


def _ibis_sql_source() -> str:
    import ibis.backends.sql as sql_backend

    return inspect.getsource(sql_backend)


# --- sqlglot<30.18 -------------------------------------------------------------------------------------------


def test_sqlglot_pin_reason_drop_this_is_what_ibis_12_uses():
    """ibis 12.0.0 builds ``sge.Drop(kind=..., this=..., exists=True)``; sqlglot 30.18 renamed ``this`` to
    ``tables`` so the name is dropped and ``DROP VIEW IF EXISTS`` has no object (ibis #12101/#12124)."""
    import sqlglot.expressions as sge

    assert "sqlglot" in _declared() and Version("30.18") not in _declared()["sqlglot"].specifier
    assert 'sge.Drop(kind="TABLE", this=this, exists=True)' in _ibis_sql_source(), (
        "ibis no longer builds Drop(this=...): re-check whether the sqlglot<30.18 pin is still needed"
    )
    assert "this" in sge.Drop.arg_types, "sqlglot's Drop lost 'this': ibis 12 emits a nameless DROP"
    sql = sge.Drop(kind="VIEW", this=sge.to_table("v"), exists=True).sql("duckdb")
    assert sql == "DROP VIEW IF EXISTS v"


def test_sqlglot_pin_reason_ibis_create_and_drop_table_work():
    # what broke with sqlglot 30.18: create_table(obj=DataFrame) (memtable clean-up) and drop_table
    import ibis

    con = ibis.duckdb.connect()
    con.create_table("t", obj=pd.DataFrame({"a": [1, 2, 3]}))
    assert con.table("t").a.sum().execute() == 6
    con.drop_table("t")
    assert "t" not in con.list_tables()


# --- duckdb<2 ------------------------------------------------------------------------------------------------


def test_duckdb_pin_reason_fetch_arrow_table_is_called_by_ibis_and_exists():
    """ibis 12.0.0's DuckDB backend calls ``fetch_arrow_table()``, which duckdb 2.0 removed."""
    import ibis.backends.duckdb as ibis_duckdb

    assert Version("2.0") not in _declared()["duckdb"].specifier
    uses = "fetch_arrow_table()" in inspect.getsource(ibis_duckdb)
    if not uses:
        pytest.fail("ibis's DuckDB backend no longer calls fetch_arrow_table(): the duckdb<2 pin may be lifted")
    assert hasattr(duckdb.connect().execute("select 1"), "fetch_arrow_table")
    import ibis

    assert ibis.duckdb.connect().list_tables() == []  # the call that raised AttributeError on duckdb 2.0


# --- ibis-framework==12.0.0 ----------------------------------------------------------------------------------


def test_ibis_is_the_version_the_workarounds_were_measured_on():
    assert str(_declared()["ibis-framework"].specifier) == "==12.0.0"
    assert md.version("ibis-framework") == "12.0.0"


# --- pandas<3 ------------------------------------------------------------------------------------------------


def _requirement_of(dist: str, name: str) -> Requirement | None:
    for r in md.requires(dist) or []:
        req = Requirement(r)
        if req.name.lower() == name and not req.marker:
            return req
    return None


def test_pandas_pin_reason_statsforecast_requires_pandas_below_3():
    """statsforecast 2.1.1 (the forecast extra) requires pandas<3; read from its own metadata."""
    assert Version("3.0") not in _declared()["pandas"].specifier
    try:
        md.version("statsforecast")
    except md.PackageNotFoundError:
        pytest.skip("statsforecast is not installed (the `forecast` extra): the pandas<3 reason cannot be read")
    req = _requirement_of("statsforecast", "pandas")
    if req is None or Version("3.0") in req.specifier:
        pytest.fail(f"statsforecast {md.version('statsforecast')} accepts pandas 3 ({req}): lift the pandas<3 pin")


def test_pypsa_pin_reason_pypsa_1_4_needs_pandas_3():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    pypsa = next(Requirement(r) for r in extras["optimise"] if r.startswith("pypsa"))
    assert Version("1.4") not in pypsa.specifier and Version("1.2.4") in pypsa.specifier
    try:
        md.version("pypsa")
    except md.PackageNotFoundError:
        pytest.skip("pypsa is not installed (the `optimise` extra)")
    assert Version(md.version("pypsa")) < Version("1.4")


# --- codecarbon>=3,<4 ----------------------------------------------------------------------------------------


def test_codecarbon_bound_reason_the_public_api_the_footprint_uses():
    """coreduce.footprint starts ``OfflineEmissionsTracker(country_iso_code=, tracking_mode=, ...)``: the 3.x API."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    cc = Requirement(extras["footprint"][0])
    assert cc.name == "codecarbon" and Version("4.0") not in cc.specifier
    try:
        version = md.version("codecarbon")
    except md.PackageNotFoundError:
        pytest.skip("codecarbon is not installed (the `footprint` extra); the footprint uses its power model")
    assert Version(version) in cc.specifier
    from codecarbon import OfflineEmissionsTracker

    params = inspect.signature(OfflineEmissionsTracker.__init__).parameters
    assert {"country_iso_code", "tracking_mode", "log_level"} <= set(params) or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )

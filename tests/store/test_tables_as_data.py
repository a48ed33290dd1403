"""Tables are data: tables.csv alone declares a table; names, DDL, write order, validation and docs follow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coreduce import schema
from coreduce.errors import InputError, InputErrors, UnknownTableError
from coreduce.store import Store, ddl

PACKAGE_SPEC = Path(schema.__file__).with_name("tables.csv")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "tables.md"

# a new table that references sites, declared only by appending rows (every supported type)
EXTRA = """\
example_forecasts,site_id,string,,yes,,yes,sites.site_id,Site forecast
example_forecasts,ds,timestamp,,yes,,yes,,Forecast time
example_forecasts,model,string,,no,naive,yes,,Model name
example_forecasts,y,float,ug/m^3,yes,,no,,Forecast value
example_forecasts,horizon_h,int,h,no,1,no,,Hours ahead
example_forecasts,calibrated,bool,,no,false,no,,Interval calibrated
example_forecasts,params,json,,no,{},no,,Model parameters
watchlist,alert_id,string,,yes,,yes,,Alert id
watchlist,site_id,string,,yes,,no,example_forecasts.site_id,Site
"""


@pytest.fixture
def extra_spec(tmp_path):
    path = tmp_path / "tables.csv"
    path.write_text(PACKAGE_SPEC.read_text().rstrip("\n") + "\n" + EXTRA)
    schema.load_spec(path)
    yield path
    schema.load_spec()


def test_tables_derive_from_the_csv():
    declared = list(dict.fromkeys(pd.read_csv(PACKAGE_SPEC)["table"]))
    assert list(schema.TABLES) == declared
    order = schema.write_order()
    assert sorted(order) == sorted(declared)
    assert order.index("sites") < order.index("observations")  # observations.site_id -> sites.site_id


def test_adding_a_table_is_adding_rows(extra_spec, tmp_path):
    assert schema.TABLES[-2:] == ("example_forecasts", "watchlist")
    order = schema.write_order()
    assert order.index("sites") < order.index("example_forecasts") < order.index("watchlist")
    assert '"params" TEXT' in ddl("example_forecasts") and '"calibrated" BOOLEAN' in ddl("example_forecasts")
    df = pd.DataFrame(
        {
            "site_id": ["s1", "s1"],
            "ds": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00"],
            "y": ["12.5", "13"],
            "horizon_h": ["6", ""],
            "calibrated": ["yes", "0"],
            "params": ['{"alpha": 0.1}', None],
        }
    )
    # both rows have the same key after conversion to UTC (01:00+01:00 = 00:00Z): a duplicate
    with pytest.raises(InputError, match="same key as row 2"):
        schema.validate(df, "example_forecasts")
    df.loc[1, "ds"] = "2024-01-01T02:00:00+01:00"
    got = schema.validate(df, "example_forecasts")
    assert got["model"].tolist() == ["naive", "naive"]  # default
    assert got["horizon_h"].tolist() == [6, 1]  # default for the empty cell
    assert got["calibrated"].tolist() == [True, False]
    assert got["params"].tolist() == ['{"alpha": 0.1}', "{}"]
    bad = df.assign(horizon_h=["1.5", "x"], calibrated=["maybe", "no"], params=["{oops", None])
    with pytest.raises(InputErrors) as err:
        schema.validate(bad, "example_forecasts", source="f.csv")
    got_errs = [(e.row, e.column, e.value) for e in err.value.errors]
    assert got_errs == [
        (2, "horizon_h", "1.5"),
        (2, "calibrated", "maybe"),
        (2, "params", "{oops"),
        (3, "horizon_h", "x"),
    ]
    with Store(tmp_path / "ws.duckdb") as st:
        rep = st.ingest({"example_forecasts": df, "sites": pd.DataFrame({"site_id": ["s1"], "kind": ["station"]})})
        assert rep.inserted == {"sites": 1, "example_forecasts": 2}
        assert "example_forecasts" in st.tables() and "watchlist" in st.tables()
        assert st.read("example_forecasts")["y"].tolist() == [12.5, 13.0]
    assert "## `example_forecasts`" in schema.tables_markdown()


def test_spec_errors_are_located(tmp_path):
    bad = tmp_path / "tables.csv"
    bad.write_text(PACKAGE_SPEC.read_text().rstrip("\n") + "\nx,a,decimal,,yes,,yes,,\n")
    n = len(PACKAGE_SPEC.read_text().strip().splitlines()) + 1
    with pytest.raises(InputError) as err:
        schema.load_spec(bad)
    assert (err.value.row, err.value.column, err.value.value) == (n, "type", "decimal")
    cyc = tmp_path / "cyc.csv"
    cyc.write_text(",".join(schema.SPEC_COLUMNS) + "\na,id,string,,yes,,yes,b.id,\nb,id,string,,yes,,yes,a.id,\n")
    with pytest.raises(InputError, match="without a cycle"):
        schema.load_spec(cyc)
    schema.load_spec()
    assert "observations" in schema.TABLES


def test_unknown_table_is_a_store_error_listing_tables():
    with pytest.raises(UnknownTableError, match="canonical tables are sites, observations"):
        schema.spec("observation")


def test_check_registry_runs_registered_checks(extra_spec):
    @schema.check("watchlist")
    def _no_test_ids(ctx):
        ctx.rule("alert_id", "starts_with(\"alert_id\", 'test')", "a real alert id")

    try:
        with pytest.raises(InputError, match="row 3, column 'alert_id': got 'test-1', expected a real alert id"):
            schema.validate(pd.DataFrame({"alert_id": ["a1", "test-1"], "site_id": ["s", "s"]}), "watchlist")
    finally:
        schema._CHECKS["watchlist"].remove(_no_test_ids)


def test_docs_tables_md_is_up_to_date():
    assert DOCS.read_text() == schema.tables_markdown() + "\n", (
        "docs/tables.md is stale: regenerate with "
        "python -c 'from coreduce import schema; print(schema.tables_markdown())' > docs/tables.md"
    )

"""The named, cited, versioned coefficient-set mechanism (issue 11 item 4), on a real bundled table.

The GWP table is used as the bundled set because it is a real cited file already in the package: AR5 CH4 = 28
(IPCC AR5 WG1 Table 8.7) and AR4 CH4 = 25 (AR4 WG1 Table 2.14).
"""

from __future__ import annotations

import pytest

from coreduce import coefficients
from coreduce.account import FactorLibrary
from coreduce.errors import InputError


@pytest.fixture(autouse=True)
def _gwp_set():
    coefficients.register(
        "gwp_test",
        package="coreduce.account",
        path="data/gwp.csv",
        columns=("gwp_set", "gas", "value"),
        numeric=("value",),
        key=("gwp_set", "gas"),
        description="GWP-100 (kg CO2e/kg)",
    )
    yield
    coefficients._REGISTRY.pop("gwp_test", None)
    coefficients.load.cache_clear()


def test_bundled_values_and_sources():
    s = coefficients.load("gwp_test")
    assert s.value(gwp_set="AR5", gas="CH4") == 28.0
    assert s.value(gwp_set="AR4", gas="CH4") == 25.0
    assert "Table 8.7" in s.source(gwp_set="AR5", gas="CH4")
    assert s.version.startswith("gwp_test@2026.11+")
    assert s.paths == ("coreduce/account/data/gwp.csv",)


def test_user_rows_override_on_key_and_change_the_version(tmp_path):
    user = tmp_path / "gwp.csv"
    user.write_text('gwp_set,gas,value,source\nAR5,CH4,30,"my study, Table 2"\nX1,CH4,1,"test set"\n')
    base = coefficients.load("gwp_test")
    s = FactorLibrary.default().coefficients("gwp_test", user)
    assert s.value(gwp_set="AR5", gas="CH4") == 30.0  # user row wins
    assert s.value(gwp_set="AR5", gas="N2O") == 265.0  # bundled rows kept
    assert s.value(gwp_set="X1", gas="CH4") == 1.0  # user rows added
    assert len(s.frame) == len(base.frame) + 1
    assert s.version != base.version
    assert s.paths[-1] == str(user)


def test_a_row_without_a_source_is_refused_with_its_location(tmp_path):
    user = tmp_path / "gwp.csv"
    user.write_text("gwp_set,gas,value,source\nAR5,CH4,30,cited\nAR5,N2O,300,\n")
    with pytest.raises(InputError) as err:
        coefficients.load("gwp_test", (user,))
    assert (err.value.row, err.value.column) == (3, "source")


def test_a_non_number_and_a_duplicate_key_are_located(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("gwp_set,gas,value,source\nAR5,CH4,lots,cited\n")
    with pytest.raises(InputError) as err:
        coefficients.load("gwp_test", (bad,))
    assert (err.value.row, err.value.column, err.value.value) == (2, "value", "lots")
    dup = tmp_path / "dup.csv"
    dup.write_text("gwp_set,gas,value,source\nAR5,CH4,1,a\nAR5,CH4,2,b\n")
    with pytest.raises(InputError) as err:
        coefficients.load("gwp_test", (dup,))
    assert err.value.row == 2


def test_lookups_that_do_not_match_exactly_one_row_say_so():
    s = coefficients.load("gwp_test")
    with pytest.raises(coefficients.CoefficientError, match="0 rows match"):
        s.value(gwp_set="AR9", gas="CH4")
    with pytest.raises(coefficients.CoefficientError, match="unknown coefficient set"):
        coefficients.load("no_such_set")

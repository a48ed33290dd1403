"""Unit conversions go through pint; each expected figure is written out."""

import pytest

from coreduce.errors import UnitError
from coreduce.units import conversion_factor, convert, dimension, split_rate


@pytest.mark.parametrize(
    ("src", "dst", "factor"),
    [
        ("kt", "t", 1e3),  # kilotonne, not pint's knot
        ("Mt", "t", 1e6),
        ("kg", "t", 1e-3),
        ("MWh", "GJ", 3.6),  # 1 MWh = 3.6e9 J = 3.6 GJ
        ("TJ", "MWh", 1e12 / 3.6e9),  # 277.777... MWh
        ("GJ", "TJ", 1e-3),
        ("tce", "GJ", 29.3076),  # GB/T 2589-2020: 1 kgce = 29 307.6 kJ
        ("MMBtu", "GJ", 1.055056),  # pint: Btu = 1055.056 J (ISO 31-4 value)
        ("mg/m3", "ug/m^3", 1e3),
        ("µg/m³", "ug/m^3", 1.0),
        ("MtCO2", "t", 1e6),  # the gas label is dropped, the mass kept
        ("ktCO2e", "kg", 1e6),
        ("10^4 m^3", "m^3", 1e4),
        ("TJ/Gg", "GJ/t", 1.0),
    ],
)
def test_conversion_factors(src, dst, factor):
    assert conversion_factor(src, dst) == pytest.approx(factor, rel=1e-12)


def test_convert_series():
    import pandas as pd

    s = pd.Series([1.5, 2.0])
    assert convert(s, "kt", "t").tolist() == [1500.0, 2000.0]


def test_dimensions():
    assert dimension("t") == "mass"
    assert dimension("MWh") == "energy"
    assert dimension("Nm3") == "volume"
    assert dimension("ha") == "area"
    assert dimension("head") == "livestock"
    assert dimension("ug/m3") == "mass/volume"


def test_incompatible_and_unknown_units():
    with pytest.raises(UnitError, match="cannot convert 't'"):
        conversion_factor("t", "MWh")
    with pytest.raises(UnitError, match="unknown unit 'tonnez'"):
        conversion_factor("tonnez", "t")
    with pytest.raises(UnitError, match="not of the form"):
        split_rate("kg")
    with pytest.raises(UnitError, match="not a mass unit"):
        split_rate("MWh/t")
    assert split_rate("kg/TJ") == ("kg", "TJ")
    assert split_rate("kg/(1e6*ft^3)") == ("kg", "1e6*ft^3")

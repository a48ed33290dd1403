"""Pure functions of the accounting layer, against hand calculations."""

import numpy as np
import pandas as pd
import pytest

from coreduce.account import (
    combined_efficiency,
    combustion_emissions,
    sequestration,
    so2_mass_balance,
    year_fraction,
)


def test_combustion_emissions_formula():
    # 2580 TJ × 94 600 kg/TJ × (1 − 0) = 244 068 000 kg
    assert combustion_emissions(2580.0, 94_600.0) == pytest.approx(244_068_000.0)
    # 100 t × 11 kg/t × (1 − 0.8) = 220 kg
    assert combustion_emissions(100.0, 11.0, 0.8) == pytest.approx(220.0)
    s = combustion_emissions(pd.Series([1.0, np.nan]), 2.0)
    assert s.iloc[0] == 2.0 and np.isnan(s.iloc[1])  # NaN propagates
    with pytest.raises(ValueError, match="removal_efficiency"):
        combustion_emissions(1.0, 1.0, 1.5)


def test_so2_mass_balance():
    # 1000 t coal, S = 1 %, k = 0.8: 2 × 1000 × 0.01 × 0.8 = 16 t; with 95 % FGD: 0.8 t
    assert so2_mass_balance(1000.0, 0.01) == pytest.approx(16.0)
    assert so2_mass_balance(1000.0, 0.01, removal_efficiency=0.95) == pytest.approx(0.8)
    # AP-42's 38S lb/ton ≈ 2 × 0.95 × S: 1 t, S = 2 % → 2 × 1 × 0.02 × 0.95 = 0.038 t = 38 kg/t at S = 2 (19S)
    assert so2_mass_balance(1.0, 0.02, conversion=0.95) == pytest.approx(0.038)


def test_combined_efficiency():
    assert combined_efficiency([]) == 0.0
    assert combined_efficiency([0.9, 0.5]) == pytest.approx(0.95)  # 1 − 0.1 × 0.5


def test_sequestration_and_year_fraction():
    assert sequestration(1000.0, 4.0, 0.5) == pytest.approx(2000.0)
    s = pd.Series(pd.to_datetime(["2019-01-01", "2020-01-01", "2019-07-01"], utc=True))
    e = pd.Series(pd.to_datetime(["2020-01-01", "2020-07-01", "2020-07-01"], utc=True))
    # whole 2019 = 1; 2020-01-01..07-01 = 182/366 (leap year); 2019-07-01..2020-07-01 = 184/365 + 182/366
    assert year_fraction(s, e) == pytest.approx([1.0, 182 / 366, 184 / 365 + 182 / 366])

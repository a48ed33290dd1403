"""Shared fixtures for the evaluate tests: a simulated city panel (284 x 13, as in the seed's application)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def simulate_city_panel(seed: int = 20240611, n_city: int = 284, n_year: int = 13) -> pd.DataFrame:
    """The DGP of shared/reference/econometrics.md §5: cei = a_i + g_t - 0.20 ai + 0.10 c1 - 0.05 c2 + 0.03 c3 + u."""
    rng = np.random.default_rng(seed)
    city = np.repeat(np.arange(n_city), n_year)
    year = np.tile(np.arange(2011, 2011 + n_year), n_city)
    a_i = rng.normal(0, 1.0, n_city)[city]
    g_t = np.linspace(0, -0.5, n_year)[year - 2011]
    ai = 0.5 * a_i + rng.normal(0, 1, n_city * n_year)
    c1, c2, c3 = rng.normal(size=(3, n_city * n_year))
    u = rng.normal(0, 1, n_city)[city] * 0.3 + rng.normal(0, 0.5, n_city * n_year)
    cei = 1.0 + a_i + g_t - 0.20 * ai + 0.10 * c1 - 0.05 * c2 + 0.03 * c3 + u
    return pd.DataFrame(dict(city=city, year=year, cei=cei, ai=ai, c1=c1, c2=c2, c3=c3))


@pytest.fixture(scope="session")
def city_panel() -> pd.DataFrame:
    return simulate_city_panel()

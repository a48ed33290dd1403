"""Carbon sinks: area × sequestration rate, as negative CO2 emissions."""

from __future__ import annotations

import numpy as np
import pandas as pd


def sequestration(area, rate, years=1.0):
    """CO2 removed by a land area: ``R = area · rate · years``.

    Parameters
    ----------
    area : float or array-like
        Land area [ha].
    rate : float or array-like
        Net sequestration rate [t CO2 / ha / yr].
    years : float or array-like
        Length of the accounting period [yr].

    Returns
    -------
    float or array-like
        CO2 removed [t], positive. The inventory records it as a negative emission (scope ``sink``).

    References
    ----------
    .. [1] IPCC (2006) Vol. 4 Ch. 2, Eq. 2.9–2.10 (gain-loss method: annual increase in carbon stocks from
       biomass growth = area × average annual net increment × carbon fraction).
    """
    return np.asarray(area, dtype="float64") * rate * years


def year_fraction(start: pd.Series, end: pd.Series) -> np.ndarray:
    """Length of ``[start, end)`` in calendar years, counting each year's own length (365 or 366 days).

    ``2019-01-01 → 2020-01-01`` is exactly 1.0; ``2020-01-01 → 2020-07-01`` is 182/366.
    """
    start = pd.to_datetime(start, utc=True)
    end = pd.to_datetime(end, utc=True)
    out = np.zeros(len(start))
    pairs = pd.DataFrame({"s": start.to_numpy(), "e": end.to_numpy()})
    for (s, e), idx in pairs.groupby(["s", "e"], sort=False).groups.items():
        s, e = pd.Timestamp(s), pd.Timestamp(e)
        total = 0.0
        for y in range(s.year, e.year + 1):
            y0 = pd.Timestamp(year=y, month=1, day=1, tz="UTC")
            y1 = pd.Timestamp(year=y + 1, month=1, day=1, tz="UTC")
            overlap = (min(e, y1) - max(s, y0)).total_seconds()
            if overlap > 0:
                total += overlap / (y1 - y0).total_seconds()
        out[pairs.index.get_indexer(idx)] = total
    return out

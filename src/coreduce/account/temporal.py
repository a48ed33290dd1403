"""Temporal downscaling: spread annual (or any multi-day) inventory rows over days with a sector profile.

Annual inventories are the norm (CEADs, national reports); daily emissions are needed to compare with
air quality, to forecast and to act in episodes.  Carbon Monitor (Liu et al., 2020) and its provincial
version (Cui et al., 2021) estimate daily CO2 by sector from daily activity proxies (power generation,
industrial output, traffic congestion).  :func:`downscale` uses such a daily series as a *profile*: the
share of a sector's emission falling on each day of the period.  The annual total is conserved: each row's
daily amounts sum to the row's amount (to floating-point rounding).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from coreduce.errors import CoreduceError

_DAY = pd.Timedelta(days=1)
FLAT = "flat"


def _profile_days(profile: pd.DataFrame) -> pd.DataFrame:
    """Normalise a profile to ``sector, day (UTC midnight), weight, source``."""
    missing = [c for c in ("sector", "share") if c not in profile.columns]
    day_col = "date" if "date" in profile.columns else "day" if "day" in profile.columns else None
    if missing or day_col is None:
        need = ", ".join([*missing, *(["date"] if day_col is None else [])])
        raise CoreduceError(f"profile: expected columns sector, date, share (missing: {need})")
    d = pd.to_datetime(profile[day_col])
    d = d.dt.tz_convert("UTC") if d.dt.tz is not None else d.dt.tz_localize("UTC")
    if (d != d.dt.floor("D")).any():
        raise CoreduceError("profile: 'date' must hold calendar days (midnight), one row per sector and day")
    w = pd.to_numeric(profile["share"], errors="coerce").to_numpy(dtype="float64")
    if np.isnan(w).any() or (w < 0).any():
        pos = int(np.flatnonzero(np.isnan(w) | (w < 0))[0])
        raise CoreduceError(
            f"profile row {pos}: 'share' must be a non-negative number, got {profile['share'].iloc[pos]!r}"
        )
    src = profile["source"].astype(str) if "source" in profile.columns else pd.Series("profile", index=profile.index)
    out = pd.DataFrame(
        {
            "sector": profile["sector"].astype(str).to_numpy(),
            "day": d.to_numpy(),
            "weight": w,
            "psource": src.to_numpy(),
        }
    )
    dup = out.duplicated(["sector", "day"])
    if dup.any():
        r = out[dup].iloc[0]
        raise CoreduceError(f"profile: two rows for sector {r['sector']!r} on {r['day'].date()}")
    return out


def downscale(
    inventory: pd.DataFrame,
    profile: pd.DataFrame | None = None,
    freq: Literal["day"] = "day",
) -> pd.DataFrame:
    """Spread each multi-day inventory row over its days with its sector's daily profile.

    For a row with amount :math:`E` over days :math:`d \\in P` and profile weights :math:`w_{s,d}` of its
    sector :math:`s`, the daily amount is :math:`E_d = E \\, w_{s,d} / \\sum_{d' \\in P} w_{s,d'}`, so the
    shares sum to 1 over the row's own period and :math:`\\sum_d E_d = E`.  Sectors without a profile get
    a flat profile (:math:`E_d = E / |P|`).

    Parameters
    ----------
    inventory : pandas.DataFrame
        Canonical ``inventory`` rows (``amount`` [t]; any extra columns are carried along).  Rows of one day
        or less are returned unchanged; longer rows must start and end at midnight UTC.
    profile : pandas.DataFrame, optional
        ``sector, date, share`` (+ optional ``source``): one row per sector and calendar day; ``share`` is any
        non-negative weight (e.g. a daily CO2 series [t/day] or its shares) — it is renormalised over each
        row's period.  A profiled sector must cover every day of each of its rows' periods.  Profile days
        are matched to UTC days by calendar date (a local-day series is used as is).  ``None``: flat for all.
    freq : {"day"}
        Target resolution (only daily today).

    Returns
    -------
    pandas.DataFrame
        The same columns as ``inventory``, one row per input row and day: ``period_start`` = the day at
        00:00 UTC, ``period_end`` = next day, ``amount`` [t], ``method`` suffixed
        ``" + downscaled(<profile source>)"`` (``flat`` where the sector has no profile).

    Raises
    ------
    CoreduceError
        Unknown ``freq``; a malformed profile; a multi-day row not aligned to days; a profiled sector whose
        profile misses a day of a row's period or whose weights sum to 0 over it.

    References
    ----------
    .. [1] Liu, Z., Ciais, P., Deng, Z. et al. (2020). Carbon Monitor, a near-real-time daily dataset of
       global CO2 emission from fossil fuel and cement production. Sci. Data 7:392.
       https://doi.org/10.1038/s41597-020-00708-7
    .. [2] Cui, D., Deng, Z., Liu, Z. et al. (2021). Daily CO2 emission for China's provinces in 2019 and
       2020. Earth Syst. Sci. Data (preprint essd-2021-153); data: Zenodo, doi:10.5281/zenodo.4730175.
    """
    if freq != "day":
        raise CoreduceError(f"downscale: freq {freq!r} is not supported; use 'day'")
    inv = inventory.reset_index(drop=True)
    start = pd.to_datetime(inv["period_start"], utc=True)
    end = pd.to_datetime(inv["period_end"], utc=True)
    length = end - start
    multi = (length > _DAY).to_numpy()
    aligned = ((start == start.dt.floor("D")) & (end == end.dt.floor("D"))).to_numpy()
    bad = multi & ~aligned
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise CoreduceError(
            f"inventory row {pos}: a multi-day period must start and end at 00:00 UTC "
            f"(got {start.iloc[pos]} .. {end.iloc[pos]})"
        )
    rows = np.flatnonzero(multi)
    n = (length.iloc[rows] // _DAY).to_numpy(dtype="int64")
    idx = np.repeat(rows, n)  # input row of each output day
    first = np.repeat(np.cumsum(n) - n, n)
    offset = np.arange(idx.size, dtype="int64") - first  # day number inside the row's period
    day = start.dt.tz_localize(None).to_numpy()[idx] + offset.astype("timedelta64[D]")  # naive UTC
    sector = inv["sector"].astype(str).to_numpy()[idx]

    weight = np.ones(idx.size)
    psource = np.full(idx.size, FLAT, dtype=object)
    if profile is not None and len(profile):
        prof = _profile_days(profile)
        profiled = np.isin(sector, prof["sector"].unique())
        if profiled.any():
            key = pd.MultiIndex.from_arrays([prof["sector"], pd.DatetimeIndex(prof["day"]).tz_localize(None)])
            look = pd.MultiIndex.from_arrays([sector[profiled], pd.DatetimeIndex(day[profiled])])
            pos = key.get_indexer(look)
            if (pos < 0).any():
                k = int(np.flatnonzero(pos < 0)[0])
                raise CoreduceError(
                    f"profile: sector {sector[profiled][k]!r} has no value for "
                    f"{pd.Timestamp(day[profiled][k]).date()}, a day of an inventory row's period"
                )
            weight[profiled] = prof["weight"].to_numpy()[pos]
            psource[profiled] = prof["psource"].to_numpy()[pos]

    # shares over each row's own period (vectorised group sums by output position)
    grp = np.repeat(np.arange(rows.size), n)
    total = np.bincount(grp, weights=weight, minlength=rows.size)
    if (total <= 0).any():
        r = rows[int(np.flatnonzero(total <= 0)[0])]
        raise CoreduceError(
            f"profile: weights of sector {inv['sector'].iloc[r]!r} sum to 0 over "
            f"{start.iloc[r].date()} .. {end.iloc[r].date()}"
        )
    share = weight / total[grp]

    out = inv.iloc[idx].reset_index(drop=True)
    out["amount"] = inv["amount"].to_numpy(dtype="float64")[idx] * share
    day_ts = pd.DatetimeIndex(day).tz_localize("UTC")
    out["period_start"] = day_ts
    out["period_end"] = day_ts + _DAY
    out["method"] = out["method"].astype(str) + " + downscaled(" + pd.Series(psource, dtype=str) + ")"
    if (~multi).any():
        out = pd.concat([inv[~multi], out], ignore_index=True)
    for c in ("period_start", "period_end"):
        out[c] = pd.to_datetime(out[c], utc=True).astype("datetime64[ns, UTC]")
    return out

"""Daily CO2 of China's 31 provinces by sector, 2019–2020 (Cui et al., 2021)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from coreduce.errors import InputError
from coreduce.ingest.loaders._common import reading, require_file, validated
from coreduce.ingest.loaders._paths import SPECS, locate
from coreduce.units import conversion_factor

SHARED_NAME = "china_daily_provincial_co2_2019_2020.csv.gz"
METHOD = "reported: Cui et al. 2021"
CITATION = (
    "Cui, D., Deng, Z., Liu, Z. et al. (2021). Daily CO2 emission for China's provinces in 2019 and 2020. "
    "Earth System Science Data / Zenodo, doi:10.5281/zenodo.4730175 (CC BY 4.0)"
)
COLUMNS = ("date", "province_code", "province", "sector", "co2_mt")


def read_cui2021_daily(path: str | Path | None = None, provinces: Iterable[str] | None = None) -> pd.DataFrame:
    """Read the daily provincial CO2 of Cui et al. (2021) as ``inventory`` rows.

    Parameters
    ----------
    path : str or Path, optional
        ``china_daily_provincial_co2_2019_2020.csv[.gz]``: the project's tidy copy of the publisher's workbook
        ``Dataset_Daily_CO2_31Provincial_MonPow_MonInd_YearVeh_2019_2020_week_holiday.xlsx`` from
        https://zenodo.org/record/4730175 (or a folder holding it). The workbook itself is **not** read:
        its sheet ``Ground Transport2020`` is dated 2019 by mistake and the copy repairs the dates from the
        weekday column (PROVENANCE.md of the shared copy). Default: found by
        :func:`coreduce.ingest.loaders.locate`.
    provinces : iterable of str, optional
        Provinces to keep, by English name (``Beijing``, ``Inner Mongolia``, ``Tibet``) or by the
        workbook's code (``BJ``, ``IM``, ``Tibet``). Default: all 31.

    Returns
    -------
    pandas.DataFrame
        Canonical ``inventory``: ``entity`` and ``region`` = English province name, ``sector`` ``power``,
        ``industry`` or ``ground_transport``, ``activity_type`` ``total``, ``period_start`` = the calendar
        day at 00:00 UTC and ``period_end`` one day later (the source days are Beijing calendar days,
        labelled by their date as the schema reads plain dates, not shifted by 8 h), ``pollutant`` ``CO2``,
        ``amount`` in t per day (source: Mt per day, converted with pint), ``method``
        ``reported: Cui et al. 2021``. 67,952 rows: 2019-01-01..2020-12-31 for power and industry
        (731 days each × 31 provinces); ground transport has 730 days because the source omits
        2020-02-29. Annual sums over provinces: power 4569.0 / 4623.8 Mt, industry 4101.7 / 4222.1 Mt,
        ground transport 924.0 / 807.8 Mt (2019 / 2020).

    References
    ----------
    Cui, D., Deng, Z., Liu, Z. et al. (2021). Daily CO2 emission for China's provinces in 2019 and 2020.
    Earth System Science Data (preprint essd-2021-153); data DOI 10.5281/zenodo.4730175. Licence CC BY 4.0.
    """
    p = Path(path) if path is not None else locate("cui2021")
    if p.is_dir() and (p / SHARED_NAME).is_file():
        p = p / SHARED_NAME
    spec = SPECS["cui2021"]
    expected = f"{SHARED_NAME} (the shared tidy copy of {spec.publisher} from {spec.url})"
    require_file(p, expected)
    if p.suffix.lower() == ".xlsx":
        raise InputError(str(p), f"{expected}; the workbook itself is not read (see read_cui2021_daily)")
    with reading(p, f"{expected} with columns {', '.join(COLUMNS)}"):
        df = pd.read_csv(p, usecols=lambda c: c in COLUMNS)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(str(p), f"column(s) {', '.join(missing)}", row=1, column=missing[0])
    if provinces is not None:
        wanted = [provinces] if isinstance(provinces, str) else list(provinces)
        df = df[df["province"].isin(wanted) | df["province_code"].isin(wanted)]
    start = pd.to_datetime(df["date"], format="%Y-%m-%d").dt.tz_localize("UTC")
    inv = pd.DataFrame(
        {
            "entity": df["province"],
            "sector": df["sector"],
            "region": df["province"],
            "period_start": start,
            "period_end": start + pd.Timedelta(days=1),
            "activity_type": "total",
            "scope": "1",
            "pollutant": "CO2",
            "amount": df["co2_mt"] * conversion_factor("Mt", "t"),
            "unit": "t",
            "method": METHOD,
            "factor_source": CITATION,
        }
    )
    return validated(inv, "inventory", p)

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

#: the workbook's province codes -> English names (the mapping of the shared tidy copy, PROVENANCE.md)
PROVINCES: dict[str, str] = {
    "AH": "Anhui", "BJ": "Beijing", "CQ": "Chongqing", "FJ": "Fujian", "GD": "Guangdong", "GS": "Gansu",
    "GX": "Guangxi", "GZ": "Guizhou", "HAN": "Hainan", "HEB": "Hebei", "HEN": "Henan", "HLJ": "Heilongjiang",
    "HUB": "Hubei", "HUN": "Hunan", "IM": "Inner Mongolia", "JL": "Jilin", "JS": "Jiangsu", "JX": "Jiangxi",
    "LN": "Liaoning", "NX": "Ningxia", "QH": "Qinghai", "SAX": "Shaanxi", "SC": "Sichuan", "SD": "Shandong",
    "SH": "Shanghai", "SX": "Shanxi", "TJ": "Tianjin", "Tibet": "Tibet", "XJ": "Xinjiang", "YN": "Yunnan",
    "ZJ": "Zhejiang",
}  # fmt: skip
#: workbook sheet prefix -> sector
SHEETS: dict[str, str] = {"Power": "power", "Industry": "industry", "Ground Transport": "ground_transport"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _read_workbook(p: Path) -> pd.DataFrame:
    """The publisher's workbook as the tidy ``date, province_code, province, sector, co2_mt`` frame.

    Sheets ``Power2019`` .. ``Ground Transport2020``: ``Date``, ``China``, a blank column, one column per
    province code, ``Week``, ``Holiday``; values in Mt CO2 per day, full precision. Sheet
    ``Ground Transport2020`` is dated 2019 in the source (365 rows) while its ``Week`` column follows the
    2020 calendar without 29 February: a sheet whose dates are all one year early is re-dated to its own
    year (same month and day), and every sheet's dates must agree with its ``Week`` column — otherwise an
    InputError names the sheet and row.
    """
    import datetime as dt

    import openpyxl

    spec = SPECS["cui2021"]
    expected = f"{spec.publisher} (from {spec.url}): sheets Power2019 .. Ground Transport2020"
    frames = []
    with reading(p, expected):
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        try:
            for prefix, sector in SHEETS.items():
                for year in (2019, 2020):
                    sheet = f"{prefix}{year}"
                    rows = list(wb[sheet].iter_rows(values_only=True))
                    head = [str(h).strip() if h is not None else "" for h in rows[0]]
                    if "Date" not in head or "Week" not in head:
                        raise InputError(
                            f"{p}:{sheet}", expected, row=1, column="Date" if "Date" not in head else "Week"
                        )
                    i_date, i_week = head.index("Date"), head.index("Week")
                    codes = [(i, h) for i, h in enumerate(head) if h in PROVINCES]
                    data = [r for r in rows[1:] if isinstance(r[i_date], dt.datetime | dt.date)]
                    dates = [r[i_date].date() if isinstance(r[i_date], dt.datetime) else r[i_date] for r in data]
                    if dates and all(d.year == year - 1 for d in dates):  # the Ground Transport2020 slip
                        dates = [d.replace(year=year) for d in dates]
                    for k, (d, r) in enumerate(zip(dates, data, strict=True)):
                        if d.year != year or str(r[i_week]).strip() != WEEKDAYS[d.weekday()]:
                            raise InputError(
                                f"{p}:{sheet}", f"a {year} date whose weekday is the Week column", row=k + 2,
                                column="Date", value=f"{d} {r[i_week]}",
                            )  # fmt: skip
                    for i, code in codes:
                        frames.append(
                            pd.DataFrame(
                                {
                                    "date": [d.isoformat() for d in dates],
                                    "province_code": code,
                                    "province": PROVINCES[code],
                                    "sector": sector,
                                    "co2_mt": [float(r[i]) for r in data],
                                }
                            )
                        )
        finally:
            wb.close()
    return pd.concat(frames, ignore_index=True)


def read_cui2021_daily(path: str | Path | None = None, provinces: Iterable[str] | None = None) -> pd.DataFrame:
    """Read the daily provincial CO2 of Cui et al. (2021) as ``inventory`` rows.

    Parameters
    ----------
    path : str or Path, optional
        The publisher's workbook
        ``Dataset_Daily_CO2_31Provincial_MonPow_MonInd_YearVeh_2019_2020_week_holiday.xlsx`` from
        https://zenodo.org/record/4730175 (full precision; its sheet ``Ground Transport2020`` is dated 2019
        by mistake and is re-dated from its weekday column, see ``_read_workbook``), or the project's tidy
        copy ``china_daily_provincial_co2_2019_2020.csv[.gz]`` (same repair, values rounded to 1e-6 Mt/day),
        or a folder holding either. Default: found by :func:`coreduce.ingest.loaders.locate`.
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
    if p.is_dir() and (p / spec.publisher).is_file():
        p = p / spec.publisher
    expected = f"{spec.publisher} from {spec.url}, or its tidy copy {SHARED_NAME}"
    require_file(p, expected)
    if p.suffix.lower() == ".xlsx":
        df = _read_workbook(p)
    else:
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

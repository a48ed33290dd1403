"""Beijing hourly air quality: UCI multi-site set (12 stations, 2013–2017), US Embassy PM2.5 (2010–2014)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.ingest.loaders._common import melt_wide, reading, require_file, validated, zip_members
from coreduce.ingest.loaders._paths import SPECS, UCI_AQ_URL, UCI_PM25_URL, locate

EMBASSY_FILE = re.compile(r"PRSA_data_2010\.1\.1-2014\.12\.31\.csv(\.gz)?")
EMBASSY_EXPECTED = (
    f"the UCI zip {SPECS['beijing-pm25'].expected} or PRSA_data_2010.1.1-2014.12.31.csv[.gz] (from {UCI_PM25_URL})"
)
MULTISITE_SOURCE = "uci_prsa_multisite"
EMBASSY_SOURCE = "uci_prsa_embassy"

#: China Standard Time, UTC+8 with no daylight-saving time (PROVENANCE.md of both data sets)
BEIJING_TZ = dt.timezone(dt.timedelta(hours=8), "CST")

#: The 12 stations and their coordinates (longitude, latitude; WGS84 degrees, 3 decimals) from the
#: Beijing Municipal Environmental Monitoring Center station list distributed with the KDD Cup of Fresh
#: Air 2018 (biendata.com), file ``Beijing_AirQuality_Stations_cn`` as copied in the public GitHub
#: repository ``Logan-Lin/KDD_Data_process_NG`` (``data/Beijing_AirQuality_Stations_cn.csv``, commit
#: 4cc155a).  Changping is the station ``pingchang_aq`` (昌平镇) there.  Independent copies in other
#: public repositories agree to within 0.012 degree (~1 km), e.g. Guanyuan 116.339 vs 116.351 E.
STATIONS: dict[str, tuple[float, float]] = {
    "Aotizhongxin": (116.397, 39.982),
    "Changping": (116.230, 40.217),
    "Dingling": (116.220, 40.292),
    "Dongsi": (116.417, 39.929),
    "Guanyuan": (116.339, 39.929),
    "Gucheng": (116.184, 39.914),
    "Huairou": (116.628, 40.328),
    "Nongzhanguan": (116.461, 39.937),
    "Shunyi": (116.655, 40.127),
    "Tiantan": (116.407, 39.886),
    "Wanliu": (116.287, 39.987),
    "Wanshouxigong": (116.352, 39.878),
}

#: variable -> unit of the multi-site files (PROVENANCE.md column table); ``wd`` (text compass point) is
#: not a number and is not loaded
MULTISITE_VARIABLES: dict[str, str] = {
    "PM2.5": "ug/m^3",
    "PM10": "ug/m^3",
    "SO2": "ug/m^3",
    "NO2": "ug/m^3",
    "CO": "ug/m^3",
    "O3": "ug/m^3",
    "TEMP": "degC",
    "PRES": "hPa",
    "DEWP": "degC",
    "RAIN": "mm",
    "WSPM": "m/s",
}

#: raw column -> (variable, unit) of the US Embassy file; ``cbwd`` (text wind sector) is not loaded
EMBASSY_VARIABLES: dict[str, tuple[str, str]] = {
    "pm2.5": ("PM2.5", "ug/m^3"),
    "DEWP": ("DEWP", "degC"),
    "TEMP": ("TEMP", "degC"),
    "PRES": ("PRES", "hPa"),
    "Iws": ("Iws", "m/s"),
    "Is": ("Is", "h"),
    "Ir": ("Ir", "h"),
}


def _site_id(station: str) -> str:
    return f"bj_{station.lower()}"


def _utc_from_local(df: pd.DataFrame) -> pd.Series:
    """UTC timestamps from the ``year, month, day, hour`` columns read as Beijing local time (UTC+8)."""
    local = pd.to_datetime(df[["year", "month", "day", "hour"]])
    return local.dt.tz_localize(BEIJING_TZ).dt.tz_convert("UTC")


#: a station file of the UCI release: ``PRSA_Data_<Station>_20130301-20170228.csv`` (``.gz`` in the shared copy)
STATION_FILE = re.compile(r"PRSA_Data_([A-Za-z]+)_20130301-20170228\.csv(\.gz)?")
STATION_FILE_EXPECTED = (
    f"the UCI zip {SPECS['beijing-aq'].expected}, its inner PRSA2017_Data_20130301-20170228.zip, or the "
    f"PRSA_Data_<Station>_20130301-20170228.csv[.gz] files (from {UCI_AQ_URL})"
)


def _station_sources(p: Path) -> dict[str, Path | bytes]:
    """Station name -> file path or CSV bytes, from a folder, one station file, or the UCI zip."""
    if p.is_dir():
        found = {m.group(1): f for f in sorted(p.iterdir()) if (m := STATION_FILE.fullmatch(f.name))}
        if found:
            return found
        zips = [p / z for z in SPECS["beijing-aq"].publisher_files if (p / z).is_file()]
        if not zips:
            raise InputError(str(p), f"a folder holding {STATION_FILE_EXPECTED}")
        p = zips[0]
    require_file(p, STATION_FILE_EXPECTED)
    if p.suffix.lower() == ".zip":
        with reading(p, STATION_FILE_EXPECTED):
            members = zip_members(p, STATION_FILE.pattern)
        if not members:
            raise InputError(str(p), f"a zip holding {STATION_FILE_EXPECTED}")
        return {STATION_FILE.fullmatch(k).group(1): v for k, v in members.items()}  # type: ignore[union-attr]
    m = STATION_FILE.fullmatch(p.name)
    if m is None:
        raise InputError(str(p), STATION_FILE_EXPECTED, value=p.name)
    return {m.group(1): p}


def read_beijing_aq(
    path: str | Path | None = None, stations: Iterable[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the UCI Beijing multi-site air-quality set into canonical ``sites`` and ``observations``.

    Hourly readings of 12 national-control stations, 2013-03-01 00:00 to 2017-02-28 23:00 Beijing time
    (35,064 hours per station, 420,768 station-hours).

    Parameters
    ----------
    path : str or Path, optional
        The publisher's file as downloaded from https://archive.ics.uci.edu/dataset/501/beijing+multi+site+air+quality+data:
        ``beijing+multi+site+air+quality+data.zip`` (or the ``PRSA2017_Data_20130301-20170228.zip`` inside
        it); or a folder holding the 12 ``PRSA_Data_<Station>_20130301-20170228.csv`` files (unzipped, or
        gzip-compressed ``.csv.gz`` as in the project's shared copy, byte-identical after gunzip); or one
        such file. Default: found by :func:`coreduce.ingest.loaders.locate` (``$COREDUCE_DATA`` or the
        package's data folders; never the working directory).
    stations : iterable of str, optional
        Station names to read (as in the file names, e.g. ``"Dongsi"``; case-insensitive). Default: all.

    Returns
    -------
    sites : pandas.DataFrame
        Canonical ``sites``: ``site_id`` ``bj_<station lower-case>`` (e.g. ``bj_aotizhongxin``), kind
        ``station``, region ``Beijing``, ``lat``/``lon`` in WGS84 degrees from the KDD Cup 2018 station
        list (see :data:`STATIONS`; 3 decimals, about 100 m, copies agree within ~1 km).
    observations : pandas.DataFrame
        Canonical ``observations``, one row per station, hour and variable, ``ts`` in UTC (local
        Beijing time UTC+8, no DST, minus 8 h: the first row, 2013-03-01 00:00 local, is
        2013-02-28 16:00 UTC), source ``uci_prsa_multisite``. Variables and units:
        ``PM2.5, PM10, SO2, NO2, CO, O3`` in µg/m³ (``ug/m^3``; CO too, 100–10,000 µg/m³),
        ``TEMP`` and ``DEWP`` in °C (``degC``), ``PRES`` in hPa, ``RAIN`` in mm (hourly precipitation),
        ``WSPM`` in m/s. Missing readings (``NA`` in the files) are dropped, not flagged: all 12
        stations give 4,628,448 station-hour-variable cells of which 72,205 are missing, so 4,556,243
        rows. The text wind direction ``wd`` is not loaded.

    Raises
    ------
    InputError
        If the path is not one of the files above, a file lacks an expected column or a station name is
        unknown.
    DataSetNotFound
        If no path is given and the data set is not in the configured data folders (the message names
        the zip and the URL).

    References
    ----------
    Zhang, S., Guo, B., Dong, A., He, J., Xu, Z. and Chen, S.X. (2017). Cautionary tales on air-quality
    improvement in Beijing. Proc. R. Soc. A 473: 20170457. Data: UCI Machine Learning Repository,
    "Beijing Multi-Site Air Quality" (id 501), DOI 10.24432/C5RK5G, licence CC BY 4.0. Station
    coordinates: Beijing Municipal Environmental Monitoring Center station list of the KDD Cup of Fresh
    Air 2018 (biendata.com).
    """
    p = Path(path) if path is not None else locate("beijing-aq")
    files = _station_sources(p)
    if stations is not None:
        wanted = {s.lower() for s in stations}
        unknown = wanted - {s.lower() for s in files}
        if unknown:
            raise InputError(str(p), f"station names among {', '.join(files)}", value=sorted(unknown)[0])
        files = {s: f for s, f in files.items() if s.lower() in wanted}
    usecols = ["year", "month", "day", "hour", *MULTISITE_VARIABLES, "station"]
    frames = []
    for station, f in files.items():
        src = f if isinstance(f, Path) else f"{p}:{station}"
        with reading(src, f"a UCI station file with columns {', '.join(usecols)}"):
            data = f if isinstance(f, Path) else io.BytesIO(f)
            compression = "gzip" if isinstance(f, Path) and f.suffix == ".gz" else None
            frames.append(
                pd.read_csv(
                    data, usecols=usecols, na_values=["NA"], keep_default_na=False, engine="pyarrow",
                    compression=compression,
                )
            )  # fmt: skip
    wide = pd.concat(frames, ignore_index=True)
    ts = _utc_from_local(wide)
    site_ids = ("bj_" + wide["station"].str.lower()).to_numpy()
    obs = melt_wide(wide, ts, site_ids, list(MULTISITE_VARIABLES), list(MULTISITE_VARIABLES.values()), MULTISITE_SOURCE)
    names = list(dict.fromkeys(wide["station"]))
    sites = pd.DataFrame(
        {
            "site_id": [_site_id(s) for s in names],
            "name": names,
            "kind": "station",
            "region": "Beijing",
            "lat": [STATIONS[s][1] if s in STATIONS else np.nan for s in names],
            "lon": [STATIONS[s][0] if s in STATIONS else np.nan for s in names],
        }
    )
    return validated(sites, "sites", p), validated(obs, "observations", p)


def read_beijing_pm25_embassy(path: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the UCI Beijing PM2.5 set (US Embassy, hourly 2010–2014) into ``sites`` and ``observations``.

    Parameters
    ----------
    path : str or Path, optional
        The publisher's file from https://archive.ics.uci.edu/dataset/381/beijing+pm2+5+data:
        ``beijing+pm2+5+data.zip`` as downloaded, the ``PRSA_data_2010.1.1-2014.12.31.csv`` inside it, its
        ``.csv.gz`` (the shared copy), or a folder holding one of them. Default: found by
        :func:`coreduce.ingest.loaders.locate`.

    Returns
    -------
    sites : pandas.DataFrame
        One site ``bj_us_embassy`` (kind ``station``, region ``Beijing``); ``lat``/``lon`` are left
        empty (NaN): the data set publishes no coordinates and none were sourced.
    observations : pandas.DataFrame
        ``ts`` in UTC (the file is in Beijing local time, UTC+8, no DST), source ``uci_prsa_embassy``.
        Variables: ``PM2.5`` (µg/m³), ``TEMP`` and ``DEWP`` (°C), ``PRES`` (hPa), ``Iws`` (cumulated
        wind speed, m/s), ``Is`` and ``Ir`` (cumulated hours of snow / rain, h). 43,824 hours × 7
        variables; the 2,067 hours without PM2.5 are dropped, leaving 304,701 rows. The text wind
        sector ``cbwd`` is not loaded.

    References
    ----------
    Liang, X., Zou, T., Guo, B., Li, S., Zhang, H., Zhang, S., Huang, H. and Chen, S.X. (2015). Assessing
    Beijing's PM2.5 pollution: severity, weather impact, APEC and winter heating. Proc. R. Soc. A 471:
    20150257. Data: UCI Machine Learning Repository, "Beijing PM2.5" (id 381), DOI 10.24432/C5JS49,
    licence CC BY 4.0.
    """
    p = Path(path) if path is not None else locate("beijing-pm25")
    if p.is_dir():
        inside = [f for f in sorted(p.iterdir()) if EMBASSY_FILE.fullmatch(f.name)]
        inside += [p / z for z in SPECS["beijing-pm25"].publisher_files[:1] if (p / z).is_file()]
        if not inside:
            raise InputError(str(p), f"a folder holding {EMBASSY_EXPECTED}")
        p = inside[0]
    require_file(p, EMBASSY_EXPECTED)
    usecols = ["year", "month", "day", "hour", *EMBASSY_VARIABLES]
    with reading(p, f"{EMBASSY_EXPECTED}, with columns {', '.join(usecols)}"):
        if p.suffix.lower() == ".zip":
            members = zip_members(p, EMBASSY_FILE.pattern)
            if not members:
                raise InputError(str(p), f"a zip holding {EMBASSY_EXPECTED}")
            data: Path | io.BytesIO = io.BytesIO(next(iter(members.values())))
        elif EMBASSY_FILE.fullmatch(p.name):
            data = p
        else:
            raise InputError(str(p), EMBASSY_EXPECTED, value=p.name)
        wide = pd.read_csv(data, usecols=usecols, na_values=["NA", ""], keep_default_na=False)
    ts = _utc_from_local(wide)
    wide = wide.rename(columns={k: v[0] for k, v in EMBASSY_VARIABLES.items()})
    site_ids = np.full(len(wide), "bj_us_embassy", dtype=object)
    obs = melt_wide(
        wide,
        ts,
        site_ids,
        [v[0] for v in EMBASSY_VARIABLES.values()],
        [v[1] for v in EMBASSY_VARIABLES.values()],
        EMBASSY_SOURCE,
    )
    sites = pd.DataFrame(
        {
            "site_id": ["bj_us_embassy"],
            "name": ["US Embassy Beijing"],
            "kind": ["station"],
            "region": ["Beijing"],
            "lat": [np.nan],
            "lon": [np.nan],
        }
    )
    return validated(sites, "sites", p), validated(obs, "observations", p)

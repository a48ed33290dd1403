"""Observed wind direction of the Beijing multi-site files as a unit vector (the loader leaves ``wd`` out)."""

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.forecast.jobs import beijing_wind_direction

HEAD = "No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station\n"


def _file(tmp_path, rows):
    p = tmp_path / "PRSA_Data_Dongsi_20130301-20170228.csv"
    p.write_text(HEAD + "".join(rows))
    return p


def test_compass_names_become_unit_vectors(tmp_path):
    p = _file(tmp_path, ["1,2013,3,1,0,4,4,4,7,300,77,-0.7,1023,-18.8,0,NNW,4.4,Dongsi\n",
                         "2,2013,3,1,1,8,8,4,7,300,77,-1.1,1023,-18.2,0,E,4.7,Dongsi\n",
                         "3,2013,3,1,2,7,7,5,10,300,73,-1.1,1023,-18.2,0,NA,5.6,Dongsi\n"])  # fmt: skip
    w = beijing_wind_direction(p)
    assert list(w["unique_id"]) == ["bj_dongsi"] * 3
    # 2013-03-01 00:00 Beijing (UTC+8) is 2013-02-28 16:00 UTC
    assert w["ds"].iloc[0] == pd.Timestamp("2013-02-28 16:00")
    # NNW = 337.5 degrees: north component cos, east component sin (negative: from the west of north)
    assert w["wd_n"].iloc[0] == pytest.approx(np.cos(np.deg2rad(337.5)))
    assert w["wd_e"].iloc[0] == pytest.approx(np.sin(np.deg2rad(337.5)))
    assert w["wd_n"].iloc[1] == pytest.approx(0.0, abs=1e-12) and w["wd_e"].iloc[1] == pytest.approx(1.0)
    assert np.isnan(w["wd_n"].iloc[2])  # NA stays missing


def test_unknown_direction_names_the_row(tmp_path):
    p = _file(tmp_path, ["1,2013,3,1,0,4,4,4,7,300,77,-0.7,1023,-18.8,0,NORTHISH,4.4,Dongsi\n"])
    with pytest.raises(InputError) as e:
        beijing_wind_direction(p)
    assert e.value.row == 2 and e.value.column == "wd"

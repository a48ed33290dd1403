"""Inputs of the golden-hash tests: values for ``canonical_json`` and frames for ``hash_frame``.

Built by code (numpy, pandas, Path and NaN values cannot be written as JSON); their frozen outputs are in
``golden/canonical_json.json`` and ``golden/hash_frame.json``, produced by the ledger of commit 522c6fd.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd


def json_cases() -> dict[str, object]:
    """Name → value given to ``canonical_json``."""
    return {
        "scalars": {"b": True, "n": None, "i": 7, "f": 0.1, "s": "x"},
        "key_order": {"z": 1, "a": {"y": 2, "b": [3, {"d": 4, "c": 5}]}},
        "unicode": {"城市": "北京", "µ": "µg/m³", "esc": 'a"b\\c\nd'},
        "nan_inf": {"nan": float("nan"), "inf": float("inf"), "list": [1.0, float("-inf")]},
        "numpy": {"i64": np.int64(42), "f32": np.float32(0.5), "arr": np.array([1, 2, 3]), "b": np.bool_(False)},
        "times": {
            "ts": pd.Timestamp("2024-05-01T08:00:00.123456+08:00"),
            "naive": dt.datetime(2020, 1, 2, 3, 4, 5),
            "date": dt.date(2019, 12, 31),
        },
        "other": {"path": Path("/data/a.csv"), "dec": Decimal("1.25"), "set": {"b", "a"}, "tuple": (1, 2)},
        "floats": [1.0, 1e-7, 123456789.123, 2.5e300, -0.0, 1 / 3],
        "claims": [
            {"seq": 1, "pollutant": "CO2e", "amount": 840.0, "unit": "t", "basis": "baseline", "note": None},
            {"seq": 2, "pollutant": "SO2", "amount": 12.5, "unit": "t", "basis": None, "note": "FGD"},
        ],
    }


def frame_cases() -> dict[str, pd.DataFrame]:
    """Name → frame given to ``hash_frame``."""
    ts = pd.to_datetime(["2024-01-01T00:00Z", "2024-01-01T01:00:00.5Z", None], utc=True, format="ISO8601")
    return {
        "mixed": pd.DataFrame({"site": ["a", "b", "c"], "n": [1, 2, 3], "x": [0.1, np.nan, 2.5], "ts": ts}),
        "text_escapes": pd.DataFrame({"s": ["tab\there", "new\nline", "back\\slash", "unit\x1fsep", None]}),
        "ints_as_floats": pd.DataFrame({"n": [1.0, 2.0, np.nan], "big": [2.0**53, 1e20, -3.0]}),
        "bools_bytes": pd.DataFrame({"b": [True, False], "raw": [b"\x00\xff", b"ab"]}),
        "naive_ts": pd.DataFrame({"t": pd.to_datetime(["2019-01-01 00:00", "2019-06-30 12:30"])}),
        "empty": pd.DataFrame({"a": pd.Series([], dtype="float64"), "b": pd.Series([], dtype="object")}),
        "unicode_cols": pd.DataFrame({"城市": ["北京", "上海"], "PM2.5 µg/m³": [35.2, 40.0]}),
        "inventory_like": pd.DataFrame(
            {
                "entity": ["plant_a"] * 3,
                "pollutant": ["CO2", "SO2", "NOx"],
                "amount": [38235.600000000006, 1.2, 0.0],
                "unit": ["t"] * 3,
                "period_start": pd.to_datetime(["2019-01-01"] * 3, utc=True),
            }
        ),
    }

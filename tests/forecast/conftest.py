import numpy as np
import pandas as pd
import pytest


def hourly(values_by_id: dict[str, np.ndarray], start: str = "2020-01-01") -> pd.DataFrame:
    parts = []
    for uid, v in values_by_id.items():
        parts.append(pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=len(v), freq="h"), "y": v}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def make_hourly():
    return hourly

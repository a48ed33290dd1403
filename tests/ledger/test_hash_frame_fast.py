"""hash_frame's Arrow implementation against the definition of its canonical form written out value by value
(``_scalar`` per cell, Python's string sort, ``\\n``-joined lines), on frames chosen to catch the easy mistakes:
a line that is a prefix of another followed by a character below ``\\n`` (a tab), non-ASCII text, floats that are
integral, fractional, huge, ``-0.0``, NaN and infinite, null text and timestamps, and many rows."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from coreduce.ledger.hashing import _esc, _scalar, hash_frame


def _reference(df: pd.DataFrame) -> str:
    cols = sorted(str(c) for c in df.columns)
    frame = df.set_axis([str(c) for c in df.columns], axis=1)
    values = [frame[c].astype(object).tolist() for c in cols]
    lines = sorted("\x1f".join(_scalar(v) for v in row) for row in zip(*values, strict=True)) if cols else []
    lines = lines or [""] * len(frame)
    text = "\n".join(["\x1f".join(_esc(c) for c in cols), *lines]) + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_tricky_values_hash_as_the_definition_says() -> None:
    df = pd.DataFrame({
        "s": ["ab", "ab\t", "ab\tc", "é", "中文", None, "x\ny", "a\\b", "", "ab"],
        "f": [1.0, -0.0, 0.1, 1e300, np.nan, np.inf, -np.inf, 2.0**53, 1e16, 123456.789],
        "t": pd.to_datetime(["2022-01-01T00:00:00Z", None, "2022-06-01T12:30:00.000001Z", "2022-01-01T00:00:00Z",
                             "2023-01-01T00:00:00Z", None, "2022-01-01T00:00:00Z", "2021-01-01T00:00:00Z",
                             "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z"], format="ISO8601"),
        "i": list(range(-5, 5)),
        "b": [True, False] * 5,
    })  # fmt: skip
    assert hash_frame(df) == _reference(df)
    assert hash_frame(df[["s"]]) == _reference(df[["s"]])  # one column: "ab" before "ab\t"
    assert hash_frame(df.iloc[:0]) == _reference(df.iloc[:0])
    assert hash_frame(df[[]]) == _reference(df[[]])


@pytest.mark.parametrize("seed", [1, 2])
def test_random_frames_hash_as_the_definition_says(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    amount = rng.lognormal(0, 5, n)
    amount[rng.random(n) < 0.2] = np.round(amount[rng.random(n) < 0.2][:1].sum())  # some integral values
    amount[rng.random(n) < 0.05] = np.nan
    df = pd.DataFrame({
        "entity": rng.choice(["plant a", "plant\tb", "电厂", "x"], n),
        "amount": amount,
        "period_start": pd.Timestamp("2022-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 12, n), unit="D"),
    })  # fmt: skip
    assert hash_frame(df) == _reference(df)


def test_float_text_is_reprs_text() -> None:
    """Fractional floats in the fixed-point range are formatted by Arrow's shortest round-trip cast: it must give
    exactly ``_num`` (repr) for every value — random magnitudes across the range and its edges, where repr and
    Arrow switch to exponents at different points (1e-4 / 1e16 against 1e-7 / 1e15)."""
    from coreduce.ledger.hashing import _float_text, _num

    rng = np.random.default_rng(7)
    n = 100_000
    a = np.concatenate([
        rng.standard_normal(n) * 10.0 ** rng.integers(-8, 18, n), rng.random(n), np.round(rng.random(n) * 1e6, 3),
        10.0 ** rng.uniform(-4.5, -3.5, n), 10.0 ** rng.uniform(14.5, 16.5, n),
        [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-4, 9.999999999999999e-05, 1e15, 999999999999999.9, 1e15 + 0.5,
         0.1 + 0.2, 2.0**53, 2.0**53 + 2, -(2.0**60), 5e-324, 1.7976931348623157e308],
    ])  # fmt: skip
    finite = np.isfinite(a)
    with np.errstate(invalid="ignore"):
        integral = finite & (np.abs(a) < 2**53) & (a == np.trunc(a))
    got = _float_text(a, finite, integral).to_pylist()
    want = [_num(float(x)) for x in a]
    bad = [(x, g, w) for x, g, w in zip(a.tolist(), got, want, strict=True) if g != w]
    assert not bad, bad[:5]

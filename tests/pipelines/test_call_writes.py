"""``Ledger.call`` stores the outputs an entrypoint declares in ``writes`` with its record; reproduce only computes."""

from __future__ import annotations

import pandas as pd

from coreduce.ledger import Ledger, entrypoint, use_ledger
from coreduce.ledger.decorator import recorded
from coreduce.store import Store


@entrypoint(writes={"sites": "sites"})
def make_sites(n: int) -> dict[str, object]:
    """Registered entrypoint: ``n`` stations."""
    return {"sites": pd.DataFrame({"site_id": [f"s{i}" for i in range(n)], "kind": "station"})}


@recorded("monitor", writes={"sites": "sites"})
def recorded_sites(prefix: str) -> dict[str, object]:
    return {"sites": pd.DataFrame({"site_id": [f"{prefix}1", f"{prefix}2"], "kind": "meter"})}


def test_call_stores_declared_outputs_and_reproduce_does_not(store_url: str) -> None:
    with Store(store_url) as s:
        led = Ledger(s)
        led.call(make_sites, {"n": 3}, kind="monitor")
        assert s.count("sites") == 3 and led.show(1)["status"] == "ok"
        s.execute("DELETE FROM sites")
        assert led.reproduce(1).status == "matched" and s.count("sites") == 0
        with use_ledger(led):
            recorded_sites("m")
        assert sorted(s.read("sites")["site_id"]) == ["m1", "m2"] and led.show(2)["kind"] == "monitor"
        assert led.reproduce(2).status == "matched" and led.verify().ok

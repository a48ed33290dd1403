"""Claims as rows: any number per run, never overwritten, covered by the record hash, CO2e netted of footprint."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from coreduce.ledger import Ledger, LedgerError, claim, claims_summary, footprint_summary
from coreduce.store import Store


def test_claims_are_rows_and_add_up(store: Store) -> None:
    led = Ledger(store)
    with led.run("optimise", params={"episode": "2024-01"}) as run:
        assert run.claim("CO2e", 800.0, basis="counterfactual: no curtailment") == 1
        assert run.claim("SO2", 12.5, note="FGD on unit 2") == 2
        claim("NOx", 4.0)  # library code inside the run
        claim("PM2.5", 900.0, "kg")
        claim("VOCs", 0.25)
        run.claim("CO2e", 40.0, "t", basis="second measure")  # a second CO2e claim adds, it does not overwrite
    rows = led.claims(run.run_id)
    assert rows[["seq", "pollutant", "amount", "unit"]].values.tolist() == [
        [1, "CO2e", 800.0, "t"], [2, "SO2", 12.5, "t"], [3, "NOx", 4.0, "t"], [4, "PM2.5", 900.0, "kg"],
        [5, "VOCs", 0.25, "t"], [6, "CO2e", 40.0, "t"]]  # fmt: skip
    rec = led.show(run.run_id)
    em = rec["emissions_kg"]
    assert em > 0
    # the CO2e claims (800 + 40 t) less the run's own footprint [kg -> t]
    assert rec["claimed_reduction_t"] == 840.0
    assert rec["net_reduction_t"] == pytest.approx(840.0 - em / 1000, rel=1e-15)
    pm = next(c for c in rec["claims"] if c["pollutant"] == "PM2.5")
    assert pm["amount_t"] == 0.9  # 900 kg = 0.9 t
    assert [c["seq"] for c in rec["claims"] if c.get("net_of_footprint")] == [1, 6]
    assert led.verify().ok


def test_co2_claim_is_netted_when_there_is_no_co2e_and_training_is_amortised(store: Store) -> None:
    led = Ledger(store)
    with led.run("optimise") as r1:
        r1.claim("CO2", 2.0, training_kg=1000.0, n_uses=4)  # training share 1000 / 4 = 250 kg = 0.25 t
        r1.claim("SO2", 1.0)
    with led.run("optimise") as r2:
        r2.claim("SO2", 1.0)  # no carbon claim: nothing to net
    with led.run("optimise") as r3:
        r3.claim(0.5)  # the old form: 0.5 t CO2
    df = footprint_summary(led)
    row = df.iloc[0]
    assert row.claimed_t == 2.0
    assert row.compute_t == pytest.approx(row.emissions_kg / 1000 + 0.25, rel=1e-12)
    assert row.net_t == pytest.approx(2.0 - row.emissions_kg / 1000 - 0.25, rel=1e-12)
    assert row.claims == "CO2 2 t; SO2 1 t"
    assert df.iloc[1].claimed_t is None or df["claimed_t"].isna().iloc[1]
    assert df["negative"].isna().iloc[1] and df.iloc[1].claims == "SO2 1 t"
    assert df.iloc[2].claimed_t == 0.5
    long = claims_summary(led)
    assert long[["seq", "claim_seq", "pollutant", "amount_t", "net_of_footprint"]].values.tolist() == [
        [1, 1, "CO2", 2.0, True], [1, 2, "SO2", 1.0, False], [2, 1, "SO2", 1.0, False],
        [3, 1, "CO2", 0.5, True]]  # fmt: skip
    assert led.verify().ok and r2.net is None and r1.net.negative is False


@pytest.mark.parametrize(
    ("args", "message"),
    [(("CO3", 1.0), "pollutant 'CO3' is not one of"), (("SO2", float("nan")), "not finite"),
     (("SO2", "lots"), "is not a number"), (("SO2", 1.0, "ton"), "unit 'ton' is not one of g, kg, t, kt, Mt")],
)  # fmt: skip
def test_bad_claims_are_refused(store: Store, args: tuple, message: str) -> None:
    led = Ledger(store)
    with pytest.raises(LedgerError, match=message), led.run("optimise") as run:
        run.claim(*args)
    rec = led.show(1)
    assert rec["status"] == "error" and rec["claims"] == []


def test_failed_run_claims_nothing(store: Store) -> None:
    led = Ledger(store)
    with pytest.raises(RuntimeError), led.run("optimise") as run:
        run.claim("CO2e", 100.0)
        raise RuntimeError("solver failed")
    rec = led.show(1)
    assert rec["status"] == "error" and rec["claims"] == [] and rec["claimed_reduction_t"] is None
    assert led.claims().empty and led.verify().ok


@pytest.mark.parametrize(
    "tamper",
    ["UPDATE claims SET amount = 900 WHERE seq = 1", "DELETE FROM claims WHERE seq = 2",
     "UPDATE claims SET pollutant = 'NOx' WHERE seq = 2",
     "INSERT INTO claims (run_id, seq, pollutant, amount, unit) SELECT run_id, 3, 'PM2.5', 1.0, 't' FROM claims "
     "WHERE seq = 1"],
)  # fmt: skip
def test_altered_claims_are_named(store: Store, tamper: str) -> None:
    led = Ledger(store)
    with led.run("forecast"):
        pass
    with led.run("optimise") as run:
        run.claim("CO2e", 800.0)
        run.claim("SO2", 12.5)
    assert led.verify().ok
    store.execute(tamper)
    res = led.verify()
    assert (res.ok, res.problem, res.first_bad_seq, res.first_bad_run_id) == (False, "altered", 2, run.run_id)
    assert "its claims rows no longer hash to its claims_sha256" in res.message


def test_claims_of_no_record_are_named(store: Store) -> None:
    led = Ledger(store)
    with led.run("forecast"):
        pass
    store.execute("INSERT INTO claims (run_id, seq, pollutant, amount, unit) VALUES ('f00d', 1, 'CO2e', 1e6, 't')")
    res = led.verify()
    assert (res.ok, res.problem) == (False, "orphan-claims") and "run f00d" in res.message


def test_show_prints_claims_and_net(store_url: str) -> None:
    from coreduce.cli.ledger import ledger_app

    with Store(store_url, create=False) as s:
        led = Ledger(s)
        with led.run("optimise") as run:
            sum(i * i for i in range(300_000))  # some compute, so the footprint shows in the net
            run.claim("CO2e", 0.001, basis="baseline 2023")
            run.claim("SO2", 12.5)
        rec = led.show(1)
        net = rec["net_reduction_t"]
        assert net == pytest.approx(0.001 - rec["emissions_kg"] / 1000, rel=1e-12) and net < 0.001
    res = CliRunner().invoke(ledger_app, ["show", "1", "--store", store_url], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "claims of run" in res.output and "baseline 2023" in res.output
    line = next(ln for ln in res.output.splitlines() if "baseline 2023" in ln)
    assert f"{net:.10g}" in line and "0.001" in line


def test_cli_claims_lists_every_claim_with_the_net(store_url: str) -> None:
    import json

    from coreduce.cli.ledger import ledger_app

    with Store(store_url, create=False) as s:
        led = Ledger(s)
        with led.run("forecast"):
            pass
        with led.run("optimise") as run:
            run.claim("CO2e", 800.0, basis="baseline 2023")
            run.claim("SO2", 12.5)
        net = led.show(2)["net_reduction_t"]
    res = CliRunner().invoke(ledger_app, ["claims", "--store", store_url, "--json"])
    rows = json.loads(res.output)
    assert res.exit_code == 0 and [(r["seq"], r["pollutant"], r["amount_t"], r["net_t"]) for r in rows] == [
        (2, "CO2e", 800.0, net), (2, "SO2", 12.5, None)]  # fmt: skip
    res = CliRunner().invoke(ledger_app, ["claims", "--store", store_url, "--run", "1"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "claims in" in res.output and "(0)" in res.output

"""The ``coreduce monitor`` sub-app (the lead registers it in cli/main.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from coreduce.cli.monitor import app
from coreduce.store import Store


def test_replay_command_idempotent(tmp_path):
    f = tmp_path / "r.csv"
    pd.DataFrame({"site_id": "m-1", "ts": pd.date_range("2024-03-01", periods=30, freq="h", tz="UTC"),
                  "variable": "electricity", "value": 12.5, "unit": "MWh"}).to_csv(f, index=False)  # fmt: skip
    ws = tmp_path / "ws.duckdb"
    r1 = CliRunner().invoke(app, ["replay", str(f), "--store", str(ws)])
    r2 = CliRunner().invoke(app, ["replay", str(f), "--store", str(ws)])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output
    assert json.loads(r1.output)["inserted"] == 30 and json.loads(r2.output)["inserted"] == 0
    assert Store(ws).count("observations") == 30


def test_run_command_refuses_a_bad_broker_address(tmp_path):
    r = CliRunner().invoke(
        app, ["run", "--mqtt", "localhost", "--topics", "a/#", "--store", str(tmp_path / "w.duckdb")]
    )
    assert r.exit_code != 0 and "HOST:PORT" in r.output


@pytest.mark.parametrize(("signame", "network"), [("SIGINT", "process"), ("SIGTERM", "thread")])
def test_run_command_interrupted_mid_stream_then_restart_loses_nothing(tmp_path, signame, network):
    """Ctrl-C in a terminal interrupts the whole process group, the MQTT reader process included (a service
    manager's SIGTERM, every process of the service), here while readings still arrive: the command stores what its
    reader received (and acknowledged) and exits 0; started again under the same persistent session it gets the rest
    from the broker: every reading stored once.  (Before the fix, 1 run in 4 lost the reading at the interrupt: the
    thread's paho acknowledged a reading after the writer's last batch; in the reader-process mode a second client
    under the session's id took the session over and back.)"""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    import paho.mqtt.client as mqtt

    ws, topic = tmp_path / "ws.duckdb", f"coreduce/test/ctrlc/{os.getpid()}/{time.time_ns()}"
    cid = f"cc-{time.time_ns()}"
    sess = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=False,
                       protocol=mqtt.MQTTv311)  # fmt: skip
    subscribed = threading.Event()
    sess.on_subscribe = lambda *a: subscribed.set()
    sess.connect("127.0.0.1", 1883)
    sess.loop_start()
    sess.subscribe(f"{topic}/#", qos=1)  # the persistent session first: the broker holds what comes meanwhile
    assert subscribed.wait(5)
    sess.disconnect()
    sess.loop_stop()

    def default_sigint() -> None:  # a shell's background job inherits SIGINT ignored: Python then keeps ignoring it
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    def command(*extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "coreduce.cli.main", "monitor", "run", "--mqtt",
                                 "127.0.0.1:1883", "--topics", f"{topic}/#", "--store", str(ws), "--client-id", cid,
                                 "--no-monitor", "--network", network, *extra], start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=default_sigint)  # fmt: skip

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ccp-{time.time_ns()}")
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    p = command()
    try:
        line = p.stderr.readline()
        while line and not line.startswith("coreduce monitor: subscribed"):
            line = p.stderr.readline()
        assert line, "the command ended before it subscribed"
        for i in range(400):
            pub.publish(f"{topic}/m-1", json.dumps({"site": "m-1", "ts": 1_700_000_000_000_000_000 + i * 10**9,
                                                   "variable": "electricity", "value": 10.0 + i % 5, "unit": "MWh"}),
                        qos=1).wait_for_publish()  # fmt: skip
            time.sleep(0.02)  # 8 s of readings
            if i == 300:
                os.killpg(p.pid, getattr(signal, signame))  # mid-stream, to the whole process group
        out, err = p.communicate(timeout=60)
    finally:
        pub.loop_stop()
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err[-2000:]
    first = json.loads(out)["inserted"]
    assert 0 < first < 400
    total = first
    for _ in range(3):  # restarted (a few seconds each, as often as a loaded machine needs) until the rest is in
        again = command("--seconds", "5")
        out2, err2 = again.communicate(timeout=90)
        assert again.returncode == 0, err2[-2000:]
        total += json.loads(out2)["inserted"]
        if total >= 400:
            break
    ids = {int(r[0]) for r in Store(ws).execute("SELECT epoch(ts)::BIGINT - 1700000000 FROM observations")}
    assert total == 400 and Store(ws).count("observations") == 400, (first, sorted(set(range(400)) - ids))

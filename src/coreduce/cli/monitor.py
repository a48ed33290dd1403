"""``coreduce monitor``: stream readings from MQTT or replay a file into the workspace's observations."""

from __future__ import annotations

import json
import time

import typer

app = typer.Typer(
    help="Monitoring: MQTT / file readings into observations (batched, idempotent).", no_args_is_help=True
)


@app.command("run")
def run_cmd(
    mqtt: str = typer.Option(..., "--mqtt", help="Broker HOST:PORT, e.g. 127.0.0.1:1883"),
    topics: list[str] = typer.Option(..., "--topics", help="Topic filter(s) to subscribe to (QoS 1)"),
    store: str = typer.Option("coreduce.duckdb", "--store", help="Workspace (DuckDB path or postgresql://...)"),
    client_id: str = typer.Option("coreduce-monitor", "--client-id", help="Persistent-session client id"),
    seconds: float = typer.Option(0.0, "--seconds", help="Stop after this many seconds (0 = until Ctrl-C)"),
) -> None:
    """Subscribe and write readings into observations in <= 100 ms batches."""
    from coreduce.monitor.stream import MqttConsumer
    from coreduce.store import Store

    host, _, port = mqtt.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"--mqtt {mqtt!r}: expected HOST:PORT")
    st = Store(store)
    c = MqttConsumer(st, host, int(port), topics, client_id=client_id)
    c.start()
    t0 = time.monotonic()
    try:
        while not seconds or time.monotonic() - t0 < seconds:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    typer.echo(json.dumps(c.stop().as_dict()))


@app.command("replay")
def replay_cmd(
    file: str = typer.Argument(..., help="Readings CSV/Parquet: site_id, ts, variable, value, unit"),
    store: str = typer.Option("coreduce.duckdb", "--store", help="Workspace"),
) -> None:
    """Replay a readings file through the same batching path (idempotent)."""
    from coreduce.monitor.stream import replay
    from coreduce.store import Store

    typer.echo(json.dumps(replay(Store(store), file).as_dict()))

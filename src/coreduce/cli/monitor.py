"""``coreduce monitor``: stream readings from MQTT or replay a file into the workspace's observations, each
reading through the live monitor (quality flags, dynamic band, explained alerts stored with the ledger)."""

from __future__ import annotations

import json
import signal
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
    monitor: bool = typer.Option(True, "--monitor/--no-monitor", help="Flag, band and alert every reading"),
    ack: str = typer.Option("receipt", "--ack", help="PUBACK on 'receipt' or after 'commit' (see docs)"),
    protocol: str = typer.Option("3.1.1", "--protocol", help="MQTT '3.1.1' (half the CPU per reading) or '5'"),
    alerts_topic: str = typer.Option("", "--alerts-topic", help="Publish each alert as JSON on TOPIC/<site> (QoS 1)"),
    network: str = typer.Option(
        "",
        "--network",
        help="paho's reading loop in a 'process' (default with --ack receipt) or a 'thread' (required by --ack commit)",
    ),
) -> None:
    """Subscribe and write readings into observations in adaptive batches (a reading waits <= 25 ms for its batch)."""
    from coreduce.monitor.live import LiveMonitor
    from coreduce.monitor.stream import MqttConsumer
    from coreduce.store import Store

    host, _, port = mqtt.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"--mqtt {mqtt!r}: expected HOST:PORT")
    st = Store(store)
    if ack not in ("receipt", "commit"):
        raise typer.BadParameter(f"--ack {ack!r}: expected receipt or commit")
    if protocol not in ("3.1.1", "5"):
        raise typer.BadParameter(f"--protocol {protocol!r}: expected 3.1.1 or 5")
    if network not in ("", "process", "thread"):
        raise typer.BadParameter(f"--network {network!r}: expected process or thread")
    try:
        c = MqttConsumer(st, host, int(port), topics, client_id=client_id,
                         monitor=LiveMonitor(st) if monitor else None, ack=ack, protocol=protocol,
                         alerts_topic=alerts_topic or None, network=network or None)  # fmt: skip
    except ValueError as exc:  # an alerts topic under the subscription, commit acknowledgement in a process
        raise typer.BadParameter(str(exc)) from exc
    # SIGTERM (a service manager's stop, ``kill``) ends the command as Ctrl-C does: what was received is stored first
    previous = signal.signal(signal.SIGTERM, _interrupt)
    t0 = time.monotonic()
    try:
        c.start()
        if c.connected.wait(10):
            typer.echo(f"coreduce monitor: subscribed to {', '.join(topics)} on {host}:{port} (QoS 1, session "
                       f"{client_id!r}); Ctrl-C stops, storing what was received first", err=True)  # fmt: skip
        else:
            typer.echo(f"coreduce monitor: not connected to {host}:{port} after 10 s; still trying", err=True)
        while not seconds or time.monotonic() - t0 < seconds:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the hand-over short
    try:
        stats = c.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    typer.echo(json.dumps(stats.as_dict()))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command("replay")
def replay_cmd(
    file: str = typer.Argument(..., help="Readings CSV/Parquet: site_id, ts, variable, value, unit"),
    store: str = typer.Option("coreduce.duckdb", "--store", help="Workspace"),
    monitor: bool = typer.Option(True, "--monitor/--no-monitor", help="Flag, band and alert every reading"),
) -> None:
    """Replay a readings file through the same batching path (idempotent)."""
    from coreduce.monitor.live import LiveMonitor
    from coreduce.monitor.stream import replay
    from coreduce.store import Store

    st = Store(store)
    typer.echo(json.dumps(replay(st, file, monitor=LiveMonitor(st) if monitor else None).as_dict()))

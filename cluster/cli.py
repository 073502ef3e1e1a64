"""`raytables`: look at a running app from a shell.

    raytables status --app pageviews [--address auto]

shows the assignment (which actor, node and slot serve each partition, and
their standbys), lag per partition, store sizes, bad input, window closes and
recovery progress. click parses the arguments, rich draws the tables.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table


@click.group()
def main() -> None:
    """raytables: Faust-style tables on Ray."""


@main.command()
@click.option("--app", required=True, help="the app name given to cluster.init(app=...)")
@click.option("--address", default="auto", show_default=True, help="Ray cluster address")
@click.option("--namespace", default="raytables", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the raw stats as JSON")
def status(app: str, address: str, namespace: str, as_json: bool) -> None:
    """Assignment, lag, store size and recovery progress of a running app."""
    import ray

    from cluster.app import ensure_ray
    from cluster.routing import router_for

    ensure_ray(address)
    try:
        coordinator = router_for(app, namespace).coordinator()
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    stats = ray.get(coordinator.stats.remote(), timeout=60)
    replicas = ray.get(coordinator.replicas.remote(), timeout=60)
    if as_json:
        click.echo(json.dumps({"stats": stats, "replicas": replicas}, default=str, indent=2))
        return
    console = Console()
    Console(width=max(console.width, 160)).print(render_status(stats, replicas))


def render_status(stats: dict[str, Any], replicas: list[dict[str, Any]]) -> Table:
    table = Table(title=f"app {stats['app']} (assignment v{stats['version']}, "
                        f"{stats.get('standby_replicas', 0)} standby per partition)")
    for col in ("partition", "slot", "role", "node", "state", "lag", "events", "bad input",
                "closes ok/failed/in flight", "keys", "store MB", "recovery"):
        table.add_column(col)
    parts = stats["partitions"]
    for r in sorted(replicas, key=lambda r: (r.get("partition", 0), r.get("role") != "active")):
        p = r.get("partition")
        s = parts.get(p, parts.get(str(p), {})) if r.get("role") == "active" else {}
        counters = s.get("counters", {})
        closes = s.get("closes", {})
        tables = s.get("tables", {})
        recovery = s.get("recovery") or {}
        lag = r.get("total_lag") if r.get("role") == "active" else r.get("changelog_lag")
        table.add_row(
            str(p), str(r.get("slot", "")), str(r.get("role", "?")), (r.get("node_id") or "")[:8],
            str(r.get("state", r.get("error", ""))), str(lag if lag is not None else ""),
            str(counters.get("events", "")), str(counters.get("bad_input", "")),
            f"{closes.get('succeeded', 0)}/{closes.get('failed', 0)}/{closes.get('in_flight', 0)}"
            if closes else "",
            str(sum(t.get("keys", 0) for t in tables.values())) if tables else "",
            f"{sum(t.get('store_bytes', 0) for t in tables.values()) / 1e6:.1f}" if tables else "",
            f"{recovery.get('records', recovery.get('done', 0))} records" if recovery else "",
        )
    table.caption = scaling_caption(stats)
    return table


def scaling_caption(stats: dict[str, Any]) -> str:
    """Moves, drained nodes and the autoscaler's state, one line each."""
    lines = []
    moves = stats.get("moves") or []
    if moves:
        pauses = sorted(m["pause_seconds"] for m in moves)
        lines.append(f"{len(moves)} live moves, pause median {pauses[len(pauses) // 2]:.3f} s "
                     f"max {pauses[-1]:.3f} s")
    if stats.get("drained_nodes"):
        lines.append("drained: " + ", ".join(n[:8] for n in stats["drained_nodes"]))
    scale = stats.get("autoscale")
    if scale:
        last = (scale.get("decisions") or [{}])[-1]
        lines.append(f"autoscale: {scale['requested_cpus']} CPUs requested "
                     f"({scale['extra_cpus']} extra), partitions busy {scale['busy']:.0%}, "
                     f"draining {len(scale['draining'])} nodes; last decision: "
                     f"{last.get('event', 'none')}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

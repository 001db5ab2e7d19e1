"""``localvision audit``: what left the machine, when, and to whom."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..cloud.audit import AuditLog, summarise
from .errors import reported
from .options import ConfigFile, JsonFlag, load_settings, since_timestamp

__all__ = ["audit_command", "shadow_table"]


def audit_command(
    since: Annotated[
        str | None, typer.Option(help="Only records from this date (YYYY-MM-DD).")
    ] = None,
    left_only: Annotated[
        bool, typer.Option("--left-only", help="Hide requests the router refused to send.")
    ] = False,
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """List every request that sent images to a cloud provider, or was refused."""
    with reported():
        start = since_timestamp(since)
        log = AuditLog.for_settings(load_settings(config))
        records = log.entries(start)
        shadow = log.shadow_summary(start)
        if left_only:
            records = [r for r in records if not r.refused]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "records": [asdict(r) for r in records],
                    "totals": summarise(records),
                    "shadow": shadow,
                }
            )
        )
        return
    table = Table(
        "time (UTC)", "provider", "features", "images", "bytes", "outcome", "ms", "caller"
    )
    for r in records:
        when = dt.datetime.fromtimestamp(r.time, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            when,
            r.provider,
            ",".join(r.features),
            str(r.images),
            f"{r.bytes_sent:,}",
            r.outcome,
            f"{r.duration_ms:.0f}",
            (r.key_id or "")[:19],
        )
    Console().print(table)
    if not any(not r.refused for r in records):
        typer.echo("Nothing has left this machine.")
    if shadow:
        Console().print(shadow_table(shadow, "shadow mode"))


def shadow_table(summary: dict[str, Any], title: str) -> Table:
    """Shadow agreement per (answered by -> shadow) pair, as ``AuditLog.shadow_summary``
    gives it."""
    table = Table("answered by -> shadow", "compared", "agreement", title=title)
    for pair, values in summary.items():
        measures = ", ".join(f"{k} {v:.3f}" for k, v in values.items() if k != "compared")
        table.add_row(pair, str(values["compared"]), measures)
    return table

"""``localvision compare``: local against cloud, measured and priced."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..advisor.compare import compare, from_audit
from ..advisor.costs import (
    PRICES,
    HardwareProfile,
    PriceEntry,
    parse_volume,
    with_overrides,
)
from ..advisor.report import write_html
from ..errors import ConfigError, InvalidParameterError
from ..types import Feature
from .audit import shadow_table
from .errors import reported
from .options import ConfigFile, JsonFlag, load_settings, since_timestamp

__all__ = ["compare_command"]


def compare_command(
    data: Annotated[
        Path | None,
        typer.Argument(metavar="DATA", help="Sample images (class folders add accuracy)."),
    ] = None,
    volume: Annotated[
        str, typer.Option(help="Expected volume, e.g. 2M/month or 50k/day.")
    ] = "1M/month",
    features: Annotated[str, typer.Option(help="Comma-separated features to compare.")] = "labels",
    models: Annotated[
        list[str] | None, typer.Option("--models", help="FEATURE=MODEL (repeatable).")
    ] = None,
    hardware: Annotated[Path | None, typer.Option(help="A hardware profile (TOML).")] = None,
    providers: Annotated[
        str, typer.Option(help="Cloud price tables to compare with.")
    ] = "google,aws,azure",
    prices: Annotated[
        Path | None,
        typer.Option(help="A TOML file of [[price]] entries replacing or adding list prices."),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    from_audit: Annotated[
        bool,
        typer.Option(
            "--from-audit", help="Report live traffic instead: shadow agreement and cloud spend."
        ),
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="With --from-audit: records from this date (YYYY-MM-DD).")
    ] = None,
    measure_cloud: Annotated[
        bool, typer.Option("--measure-cloud", help="Send a sample to configured providers.")
    ] = False,
    cloud_sample: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    yes: Annotated[bool, typer.Option("--yes", help="Allow the spend the estimate shows.")] = False,
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """Measure local models on your images and compare their cost with the cloud's."""
    with reported():
        settings = load_settings(config)
        price_table = _prices(prices)
        if from_audit:
            _from_audit(settings.home, since, price_table, as_json)
            return
        if data is None:
            raise InvalidParameterError(
                "Pass a folder of sample images.", hint="Or --from-audit for live traffic."
            )
        wanted = [Feature.parse(f) for f in features.split(",") if f.strip()]
        names = dict(_pair(m) for m in models or [])
        result = compare(
            data,
            features=wanted,
            volume=parse_volume(volume),
            settings=settings,
            hardware=_profile(hardware),
            providers=[p.strip() for p in providers.split(",")],
            models=names,
            prices=price_table,
            measure_cloud=measure_cloud,
            cloud_sample=cloud_sample,
            yes=yes,
        )
    if report is not None:
        write_html(result, report)
    if as_json:
        typer.echo(json.dumps(result))
        return
    console = Console()
    table = Table("option", "monthly cost", "per 1,000", "break-even (images/month)")
    volume_n = result["volume_per_month"]
    local = result["local"]
    table.add_row("local", f"${local['monthly_cost']:,.2f}", f"${local['cost_per_1000']:.4f}", "")
    for name, option in result["cloud"].items():
        even = result["break_even"].get(name)
        table.add_row(
            name,
            f"${option['monthly_cost']:,.2f}",
            f"${option['monthly_cost'] / volume_n * 1000:.4f}",
            f"{even:,.0f}" if even else "never in range",
        )
    console.print(table)
    measured = Table("feature", "model", "p50 ms", "p95 ms", "images/s", "best batch")
    for m in result["measurements"]:
        measured.add_row(
            m["feature"],
            m["model"],
            f"{m['latency_ms']['p50']:.1f}",
            f"{m['latency_ms']['p95']:.1f}",
            f"{m['throughput_per_s']:.1f}",
            str(m["best_batch"]),
        )
    console.print(measured)
    console.print(result["cloud_note"])
    console.print(f"[bold]{result['recommendation']}[/bold]")


def _pair(text: str) -> tuple[str, str]:
    feature, sep, name = text.partition("=")
    if not sep:
        raise InvalidParameterError(f"--models takes FEATURE=MODEL; got {text!r}.")
    return Feature.parse(feature).value, name


def _prices(path: Path | None) -> list[PriceEntry]:
    if path is None:
        return list(PRICES)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the prices file {path}: {exc}.") from exc
    entries = data.get("price", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: prices are [[price]] tables.")
    return with_overrides(entries)


def _from_audit(home: Path, since: str | None, table: list[PriceEntry], as_json: bool) -> None:
    """Agreement from the router's shadow records and what the cloud cost, since a date."""
    from ..cloud.audit import AuditLog

    report = {"since": since, **from_audit(AuditLog(home), since_timestamp(since), table)}
    if as_json:
        typer.echo(json.dumps(report))
        return
    console = Console()
    if not report["shadow"]:
        console.print(
            "No shadow records: set shadow and shadow_fraction under [cloud.router].", markup=False
        )
    console.print(shadow_table(report["shadow"], "live agreement"))
    money = Table("provider", "requests", "images", "spend (list price)", title="cloud use")
    for provider, totals in report["egress"].items():
        money.add_row(
            provider,
            str(totals["requests"]),
            str(totals["images"]),
            f"${report['spend_usd'].get(provider, 0.0):,.4f}",
        )
    console.print(money)


def _profile(path: Path | None) -> HardwareProfile:
    if path is None:
        return HardwareProfile()
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return HardwareProfile(**data)
    except (OSError, tomllib.TOMLDecodeError, TypeError) as exc:
        raise ConfigError(
            f"Cannot read the hardware profile {path}: {exc}.",
            hint="Use keys such as purchase_price, lifetime_months, hourly_rate, power_watts, "
            "electricity_per_kwh, ops_hours_per_month, ops_hourly_rate, utilisation.",
        ) from exc

"""``localvision models add/list/show/alias/promote/rollback/remove/export/pull/push``: the
registry (``push`` and storage pulls live in :mod:`.storage`)."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..advisor.promotion import check_gate
from ..config import Settings
from ..errors import InvalidParameterError
from ..models.card import CardFields, find_sidecar, parse_labels, read_sidecar
from ..models.loader import load_model
from ..registry import ModelVersion, Registry, parse_ref
from ..registry.gate import parse_gate
from ..storage import is_storage_uri
from .errors import EXIT_UNUSABLE, reported
from .options import (
    AllowPickle,
    CardFile,
    CardSet,
    ConfigFile,
    JsonFlag,
    LabelsFile,
    card_overrides,
    load_settings,
)
from .storage import pull_from_storage, push_command

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the registry commands to the ``models`` group."""
    app.command("add")(add)
    app.command("list")(list_models)
    app.command("show")(show)
    app.command("alias")(alias)
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("remove")(remove)
    app.command("export")(export)
    app.command("pull")(pull)
    app.command("push")(push_command)


def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Name to register the model under.")],
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="The model file (any supported format).")
    ],
    labels: LabelsFile = None,
    card: CardFile = None,
    set_: CardSet = None,
    allow_pickle: AllowPickle = False,
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """Register a model file as the next version of NAME (checked by loading it first)."""
    with reported():
        settings = load_settings(config, allow_pickle=allow_pickle)
        parse_ref(name)
        overrides = card_overrides(card, set_)
        loaded = load_model(path, settings=settings, card=overrides or None, labels=labels)
        fields = _card_fields(path, overrides, loaded.card.labels if labels else None)
        entry = Registry(settings.home).add(
            name,
            path,
            format_name=loaded.format.name,
            card=fields,
            license=loaded.card.license,
            lineage={"source": str(path)},
        )
        loaded.close()
    _print_entry(entry, as_json, verb="registered")


def _card_fields(path: Path, overrides: dict[str, Any], labels: Any) -> dict[str, Any]:
    """What the registry stores as the user's card: sidecar, then options, labels inlined."""
    sidecar = find_sidecar(path)
    fields: dict[str, Any] = read_sidecar(sidecar).given() if sidecar else {}
    fields.update(CardFields.model_validate(overrides).given() if overrides else {})
    if labels is not None:
        fields["labels"] = list(labels)
    for key, value in list(fields.items()):
        if hasattr(value, "value"):
            fields[key] = value.value
        elif isinstance(value, tuple):
            fields[key] = list(value)
    return fields


def list_models(as_json: JsonFlag = False, config: ConfigFile = None) -> None:
    """Every registered model version, with aliases, licence and headline metric."""
    with reported():
        entries = Registry(load_settings(config).home).entries()
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries]))
        return
    table = Table("model", "version", "aliases", "format", "licence", "accuracy", "created")
    for e in entries:
        accuracy = e.metrics.get("val_accuracy", e.metrics.get("accuracy"))
        table.add_row(
            e.name,
            str(e.version),
            ", ".join(e.aliases),
            e.format,
            e.license or "",
            f"{accuracy:.3f}" if isinstance(accuracy, float) else "",
            _when(e.created),
        )
    Console().print(table)


def show(
    ref: Annotated[str, typer.Argument(metavar="REF", help="NAME, NAME@VERSION or NAME@ALIAS.")],
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """One version in full: aliases, metrics, lineage, card."""
    with reported():
        entry = Registry(load_settings(config).home).get(ref)
    _print_entry(entry, as_json, verb="")


def alias(
    ref: Annotated[str, typer.Argument(metavar="REF", help="NAME@VERSION to point at.")],
    name: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias, e.g. staging.")],
    config: ConfigFile = None,
) -> None:
    """Point an alias at a version (no gate; see promote)."""
    with reported():
        registry = Registry(load_settings(config).home)
        entry = registry.get(ref)
        registry.set_alias(entry.name, entry.version, name)
    typer.echo(f"{entry.name}@{name} -> {entry.ref}")


def promote(
    ref: Annotated[str, typer.Argument(metavar="REF", help="NAME@VERSION to promote.")],
    to: Annotated[str, typer.Option("--to", help="The alias to move.")] = "production",
    gate: Annotated[
        str | None,
        typer.Option(help='Condition on a holdout set, e.g. "accuracy >= production - 0.01".'),
    ] = None,
    on: Annotated[Path | None, typer.Option("--on", help="Holdout data for the gate.")] = None,
    config: ConfigFile = None,
) -> None:
    """Move an alias to a version, if it passes the gate on the holdout data."""
    with reported():
        settings = load_settings(config)
        registry = Registry(settings.home)
        candidate = registry.get(ref)
        if gate is not None:
            _check_gate(settings, registry, candidate, gate, on)
        registry.set_alias(candidate.name, candidate.version, to)
    typer.echo(f"promoted {candidate.ref} to {candidate.name}@{to}")


def _check_gate(
    settings: Settings, registry: Registry, candidate: ModelVersion, text: str, data: Path | None
) -> None:
    """Measure and check the gate (:mod:`localvision.advisor.promotion`, which the console's
    promote form shares); exit without promoting when it fails."""
    if data is None:
        parse_gate(text)  # a gate that does not parse is the first thing to report
        raise InvalidParameterError("--gate needs --on DATA, the holdout set to measure on.")
    verdict = check_gate(settings, registry, candidate, text, data)
    passed, sentence = verdict.passed, verdict.sentence
    typer.echo(f"gate {text!r}: {sentence}", err=True)
    if not passed:
        typer.echo(f"error: refused to promote {candidate.ref}: {sentence}.", err=True)
        raise typer.Exit(EXIT_UNUSABLE)


def rollback(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model.")],
    alias_name: Annotated[
        str, typer.Option("--alias", help="The alias to move back.")
    ] = "production",
    config: ConfigFile = None,
) -> None:
    """Move an alias back to the version it pointed at before."""
    with reported():
        entry = Registry(load_settings(config).home).rollback(name, alias_name)
    typer.echo(f"{name}@{alias_name} -> {entry.ref}")


def remove(
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="NAME (every version) or NAME@VERSION.")
    ],
    config: ConfigFile = None,
) -> None:
    """Remove a version or a whole model; artifacts nothing else uses are deleted."""
    with reported():
        Registry(load_settings(config).home).remove(ref)
    typer.echo(f"removed {ref}")


def export(
    ref: Annotated[str, typer.Argument(metavar="REF", help="NAME, NAME@VERSION or NAME@ALIAS.")],
    folder: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="Where to write the model and its card.")
    ],
    config: ConfigFile = None,
) -> None:
    """Copy out a version's model file and its card (NAME.card.toml beside it)."""
    with reported():
        entry = Registry(load_settings(config).home).get(ref)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{entry.name}{entry.path.suffix}"
        shutil.copyfile(entry.path, target)
        (folder / f"{entry.name}.card.toml").write_text(_toml(entry.card), encoding="utf-8")
    typer.echo(f"exported {entry.ref} to {target}")


def pull(
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="REF",
            help="hf://owner/repo[@rev]/path, an https URL, a catalog name (see --list), or "
            "a storage URI written by models push (s3://, gs://, az://, abfs://, file://).",
            show_default=False,
        ),
    ] = None,
    list_catalog: Annotated[
        bool, typer.Option("--list", help="List the catalog's models and exit.")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Register under this name.")] = None,
    sha256: Annotated[str | None, typer.Option(help="The SHA-256 the file must have.")] = None,
    max_bytes: Annotated[int, typer.Option(help="Refuse files larger than this.")] = 2 * 1024**3,
    labels: LabelsFile = None,
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """Download a model (resuming, size-limited, hash-checked) and register it.

    Catalog: localvision models pull --list. From object storage: localvision models pull
    s3://bucket/models/NAME[/VERSION] (the newest version when none is given).
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from ..registry.pull import download, resolve_source

    if list_catalog:
        _print_catalog(as_json)
        return
    if ref is None:
        with reported():
            raise InvalidParameterError(
                "Name the model to pull.",
                hint="localvision models pull mobilenet-v2 (the catalog: models pull --list), "
                "an hf://owner/repo/path reference, or an https URL.",
            )

    if is_storage_uri(ref):
        with reported():
            stored = pull_from_storage(ref, name=name, sha256=sha256, labels=labels, config=config)
        _print_entry(stored, as_json, verb="pulled and registered")
        return

    console = Console(stderr=True)
    with reported():
        settings = load_settings(config)
        url, entry = resolve_source(ref)
        with Progress(
            "{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task(Path(url).name, total=None)
            fetched = download(
                url,
                settings.cache_dir,
                expected_sha256=sha256,
                max_bytes=max_bytes,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                on_wait=lambda: console.print(
                    "Another pull of the same file is running; waiting for it to finish."
                ),
            )
        card: dict[str, Any] = dict(entry.card) if entry else {}
        if entry is not None and entry.labels_url and labels is None:
            labels_file = download(entry.labels_url, settings.cache_dir, max_bytes=10 * 1024**2)
            card["labels"] = parse_labels(labels_file.path.read_text(encoding="utf-8"))
        loaded = load_model(fetched.path, settings=settings, card=card or None, labels=labels)
        fields = dict(card)
        if labels and loaded.card.labels is not None:
            fields["labels"] = list(loaded.card.labels)
        target = name or (ref if entry else Path(url.split("?")[0]).stem)
        registered = Registry(settings.home).add(
            target,
            fetched.path,
            format_name=loaded.format.name,
            card=fields,
            license=entry.license if entry else loaded.card.license,
            lineage={"source": ref, "url": url, "sha256": fetched.sha256},
        )
        loaded.close()
    _print_entry(registered, as_json, verb="pulled and registered")


def _print_catalog(as_json: bool) -> None:
    """The models ``pull`` knows by name."""
    from ..registry.pull import CATALOG

    rows = [
        {"name": name, "description": e.description, "license": e.license, "url": e.url}
        for name, e in CATALOG.items()
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("name", "model", "licence", title="localvision models pull NAME")
    for row in rows:
        table.add_row(row["name"], row["description"], row["license"])
    Console().print(table)


def _toml(card: dict[str, Any]) -> str:
    lines = [f"{key} = {json.dumps(value)}" for key, value in card.items() if value is not None]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # JSON scalars and lists of them are valid TOML; make sure
    return text


def _print_entry(entry: ModelVersion, as_json: bool, *, verb: str) -> None:
    if as_json:
        typer.echo(json.dumps(entry.to_dict()))
        return
    console = Console()
    prefix = f"{verb} " if verb else ""
    aliases = f" ({', '.join(entry.aliases)})" if entry.aliases else ""
    console.print(
        f"{prefix}[bold]{entry.ref}[/bold]{aliases}  {entry.format}  sha256 {entry.sha256[:12]}"
    )
    if entry.license:
        console.print(f"licence: {entry.license}")
    if entry.metrics:
        console.print("metrics: " + ", ".join(f"{k} {v}" for k, v in entry.metrics.items()))
    if entry.lineage:
        console.print("lineage: " + json.dumps(entry.lineage)[:400])


def _when(timestamp: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M")

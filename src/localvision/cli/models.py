"""``localvision models``: inspect model files and list the formats localvision loads."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..api import resolve_model
from ..models.formats import FORMATS
from ..models.model import Model
from .errors import reported
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
from .registry import register
from .typer_app import CommandGroup

__all__ = ["app"]

app = CommandGroup(
    help="Inspect models, list formats, and manage the model registry.",
    no_args_is_help=True,
)

_ORIGIN_STYLE = {"model": "green", "card": "cyan", "user": "magenta", "default": "yellow"}


@app.command()
def inspect(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Model file or configured name.")],
    labels: LabelsFile = None,
    card: CardFile = None,
    set_: CardSet = None,
    as_json: JsonFlag = False,
    allow_pickle: AllowPickle = False,
    config: ConfigFile = None,
) -> None:
    """Show what localvision inferred about a model and what it only assumed.

    Each card field says where it came from: the model file itself, its .card.toml, your
    options, or a default convention you may need to correct.
    """
    with reported():
        settings = load_settings(config, allow_pickle=allow_pickle)
        loaded = resolve_model(
            model, settings, labels=labels, card=card_overrides(card, set_) or None
        )
        try:
            report = describe(loaded)
        finally:
            loaded.close()
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print(report)


@app.command()
def formats(as_json: JsonFlag = False) -> None:
    """List the model formats localvision can load."""
    rows: list[dict[str, Any]] = [
        {
            "format": f.name,
            "description": f.description,
            "suffixes": list(f.suffixes),
            "extra": f.extra,
        }
        for f in FORMATS.values()
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("format", "description", "suffixes", "pip extra")
    for row in rows:
        table.add_row(
            row["format"], row["description"], " ".join(row["suffixes"]), row["extra"] or "(core)"
        )
    Console().print(table)


def describe(model: Model) -> dict[str, Any]:
    """Everything ``models inspect`` reports, JSON-ready."""
    runtime = model.runtime
    return {
        "name": model.name,
        "path": str(model.path),
        "format": model.format.name,
        "sha256": model.sha256,
        "device": runtime.device,
        "max_batch": runtime.max_batch,
        "inputs": [_tensor(t) for t in runtime.inputs],
        "outputs": [_tensor(t) for t in runtime.outputs],
        "card": model.card.to_dict(),
    }


def _tensor(spec: Any) -> dict[str, Any]:
    out = {
        "name": spec.name,
        "shape": [d if d is not None else -1 for d in spec.shape],
        "dtype": str(spec.dtype),
    }
    if spec.quantization:
        out["quantization"] = {"scale": spec.quantization[0], "zero_point": spec.quantization[1]}
    return out


def _print(report: dict[str, Any]) -> None:
    console = Console()
    console.print(f"[bold]{report['name']}[/bold]  {report['format']}  {report['path']}")
    console.print(f"sha256 {report['sha256']}  runs on {report['device']}")
    tensors = Table("", "name", "shape", "dtype", "quantization", title="tensors")
    for kind in ("inputs", "outputs"):
        for t in report[kind]:
            quant = t.get("quantization")
            tensors.add_row(
                kind[:-1],
                t["name"],
                str(t["shape"]),
                t["dtype"],
                f"scale {quant['scale']:.6g}, zero {quant['zero_point']}" if quant else "",
            )
    console.print(tensors)
    card = report["card"]
    provenance = card.pop("provenance")
    fields = Table("field", "value", "from", title="model card")
    for key, value in card.items():
        if value is None and key not in provenance:
            continue
        origin = provenance.get(key, "")
        style = _ORIGIN_STYLE.get(origin, "")
        fields.add_row(key, _show(value), f"[{style}]{origin}[/{style}]" if style else origin)
    console.print(fields)
    if "default" in provenance.values():
        console.print(
            "[yellow]Fields marked 'default' are assumptions: if predictions look wrong, set "
            "them in NAME.card.toml beside the model or with --set FIELD=VALUE.[/yellow]"
        )


def _show(value: Any) -> str:
    if isinstance(value, dict) and "count" in value:
        first = "; ".join(value["first"])
        return f"{value['count']} labels ({first}, ...)"
    return str(value).replace("[", r"\[")


register(app)  # add, list, show, alias, promote, rollback, remove, export

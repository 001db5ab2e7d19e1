"""Options shared by several commands, and turning them into settings and card overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import Settings
from ..errors import InvalidParameterError
from ..models.card import read_sidecar
from ..types import Feature

__all__ = [
    "AllowPickle",
    "BatchSize",
    "CardFile",
    "CardSet",
    "ConfigFile",
    "JsonFlag",
    "LabelsFile",
    "Providers",
    "Threads",
    "card_overrides",
    "feature_list",
    "load_settings",
]

ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="localvision.toml to read.", dir_okay=False)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout.")]
LabelsFile = Annotated[
    Path | None, typer.Option("--labels", help="Labels file, one label per line.", dir_okay=False)
]
CardFile = Annotated[
    Path | None,
    typer.Option("--card", help="Model card (.card.toml) to apply.", dir_okay=False),
]
CardSet = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override one card field, e.g. --set input_range=-1..1 --set input_size=192.",
        metavar="FIELD=VALUE",
    ),
]
AllowPickle = Annotated[
    bool,
    typer.Option("--allow-pickle", help="Load pickled PyTorch models (runs code in the file)."),
]
BatchSize = Annotated[
    int | None, typer.Option("--batch-size", min=1, max=1024, help="Images per model run.")
]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="Threads per model.")]
Providers = Annotated[
    str | None,
    typer.Option("--providers", help="ONNX Runtime execution providers, e.g. cuda,cpu."),
]


def load_settings(
    config: Path | None,
    *,
    batch_size: int | None = None,
    threads: int | None = None,
    providers: str | None = None,
    allow_pickle: bool = False,
) -> Settings:
    """Settings from the config file and environment, with the CLI's options on top."""
    return Settings.load(
        config,
        batch_size=batch_size,
        threads=threads,
        providers=providers,
        allow_pickle=True if allow_pickle else None,
    )


def card_overrides(card_file: Path | None, assignments: list[str] | None) -> dict[str, Any]:
    """Card fields from ``--card FILE`` then ``--set FIELD=VALUE`` (TOML values, else strings)."""
    fields: dict[str, Any] = {}
    if card_file is not None:
        fields.update(read_sidecar(card_file).model_dump(exclude_none=True))
    for assignment in assignments or []:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(
                f"--set takes FIELD=VALUE; got {assignment!r}.",
                hint="For example: --set input_range=0..1",
            )
        fields[key.strip()] = _value(raw.strip())
    return fields


def _value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def since_timestamp(since: str | None) -> float:
    """``--since 2026-11-01`` as a UTC timestamp (0 when absent)."""
    if not since:
        return 0.0
    import datetime as dt

    from ..errors import InvalidParameterError

    try:
        return dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        raise InvalidParameterError(
            f"--since takes a date like 2026-11-01; got {since!r}."
        ) from None


def feature_list(text: str) -> list[Feature]:
    """The features ``--features`` names (comma-separated; each once, in the order given)."""
    wanted: list[Feature] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            feature = Feature.parse(part)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        if feature not in wanted:
            wanted.append(feature)
    if not wanted:
        raise InvalidParameterError("--features names no feature.", hint="E.g. --features labels")
    return wanted

"""The ``localvision`` command: ``classify``, ``annotate`` and ``models``.

Every command is a thin layer over the Python API; every command that produces results has
``--json``. Exit codes are in :mod:`localvision.cli.errors`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .. import __version__
from ..api import engine_for, resolve_model
from ..config import Settings
from ..engine import BUILTIN_FEATURES
from ..errors import FeatureNotAvailableError, InvalidParameterError
from ..imaging.decode import ImageLimits, describe_source
from ..imaging.draw import draw_annotations
from ..imaging.inputs import expand_image_paths
from ..models.model import Model
from ..models.preprocess import assumed_preprocessing
from ..tasks.crop_hints import check_aspect_ratios
from ..tasks.faces import faces_available
from ..types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest
from . import audit as audit_cli
from . import batch as batch_cli
from . import compare as compare_cli
from . import deploy as deploy_cli
from . import models as models_cli
from . import serve as serve_cli
from . import training as training_cli
from .errors import EXIT_FAILED_IMAGES, EXIT_OK, reported
from .options import (
    AllowPickle,
    BatchSize,
    CardFile,
    CardSet,
    ConfigFile,
    JsonFlag,
    LabelsFile,
    Providers,
    Threads,
    card_overrides,
    feature_list,
    load_settings,
)
from .output import ResultPrinter, consume, progress
from .ray_option import RayOptionCommand
from .typer_app import CommandGroup

__all__ = ["app", "main"]

app = CommandGroup(
    name="localvision",
    help="Run open-source vision models locally behind cloud-compatible APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(models_cli.app, name="models")
app.add_typer(serve_cli.keys_app, name="keys")
app.add_typer(deploy_cli.app, name="deploy")
app.command(cls=RayOptionCommand)(serve_cli.serve)  # serve --ray: on Ray Serve
app.command("train")(training_cli.train_command)
app.command("eval")(training_cli.eval_command)
app.command("compare")(compare_cli.compare_command)
app.command("audit")(audit_cli.audit_command)
app.command("batch", cls=RayOptionCommand)(batch_cli.batch_command)

Images = Annotated[
    list[str],
    typer.Argument(metavar="IMAGES", help="Image files, folders (searched recursively) or globs."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"localvision {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """localvision: local vision models, cloud-compatible APIs."""


@app.command()
def classify(
    images: Images,
    model: Annotated[str, typer.Option("--model", "-m", help="Model file or configured name.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=10000)] = 5,
    min_score: Annotated[float, typer.Option("--min-score", min=0.0, max=1.0)] = 0.0,
    labels: LabelsFile = None,
    card: CardFile = None,
    set_: CardSet = None,
    as_json: JsonFlag = False,
    allow_pickle: AllowPickle = False,
    batch_size: BatchSize = None,
    threads: Threads = None,
    providers: Providers = None,
    config: ConfigFile = None,
) -> None:
    """Classify images with a model file (ONNX, TFLite, Keras, PyTorch) or a configured model.

    Example: localvision classify -m mobilenet.tflite photos/ --top-k 5 --json
    """
    request = FeatureRequest(Feature.LABELS, max_results=top_k, min_score=min_score)
    with reported():
        settings = load_settings(
            config,
            batch_size=batch_size,
            threads=threads,
            providers=providers,
            allow_pickle=allow_pickle,
        )
        loaded = resolve_model(
            model, settings, labels=labels, card=card_overrides(card, set_) or None
        )
        _warn_assumed_preprocessing(loaded)
        code = _annotate_files(images, [request], {Feature.LABELS: loaded}, settings, as_json)
    raise typer.Exit(code)


def _warn_assumed_preprocessing(model: Model) -> None:
    """One stderr line when the card's pixel scaling (and what else changes scores) is a guess."""
    fields = assumed_preprocessing(model.card, model.input)
    if not fields:
        return
    values = ", ".join(f"{f}={_card_value(getattr(model.card, f))}" for f in fields)
    sidecar = model.path.with_name(model.path.stem + ".card.toml").name
    typer.echo(
        f"warning: {model.name}: {values} {'are defaults' if len(fields) > 1 else 'is a default'}"
        ", not read from the model; a model "
        f"trained with other preprocessing scores wrongly. Set them with --set FIELD=VALUE "
        f"(e.g. --set input_range=-1..1) or in {sidecar} beside the model.",
        err=True,
    )


def _card_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ",".join(f"{v:g}" for v in value) + "]"
    return str(getattr(value, "value", value))


@app.command()
def annotate(
    images: Images,
    features: Annotated[
        str,
        typer.Option(
            "--features",
            "-f",
            help="Comma-separated: labels, objects, faces, colors, crop_hints. Default: all "
            "this configuration can answer.",
        ),
    ] = "auto",
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model file or configured name for the features."),
    ] = None,
    max_results: Annotated[int | None, typer.Option("--max-results", min=1, max=10000)] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", min=0.0, max=1.0)] = None,
    aspect_ratios: Annotated[
        str | None,
        typer.Option("--aspect-ratios", help="Crop hint shapes as width/height, e.g. 1,1.77."),
    ] = None,
    labels: LabelsFile = None,
    draw: Annotated[
        Path | None,
        typer.Option(
            "--draw", help="Write the image with what was found drawn on it (a folder for many)."
        ),
    ] = None,
    as_json: JsonFlag = False,
    allow_pickle: AllowPickle = False,
    batch_size: BatchSize = None,
    threads: Threads = None,
    providers: Providers = None,
    config: ConfigFile = None,
) -> None:
    """Annotate images with the requested features; no server needed.

    Colours and crop hints need no model. Labels use --model, or the model configured under
    [features] in localvision.toml.

    Example: localvision annotate photo.jpg --features colors,crop_hints --json
    """
    with reported():
        settings = load_settings(
            config,
            batch_size=batch_size,
            threads=threads,
            providers=providers,
            allow_pickle=allow_pickle,
        )
        given = resolve_model(model, settings, labels=labels) if model else None
        with_models = {Feature(f) for f in settings.features if f in _MODEL_FEATURES}
        if given is not None:
            with_models.add(Feature.OBJECTS if given.card.task == "detect" else Feature.LABELS)
        wanted = _parse_features(features, with_models)
        ratios = check_aspect_ratios(_numbers(aspect_ratios)) if aspect_ratios else ()
        models: dict[Feature, Model] = {}
        for feature in wanted:
            if feature in BUILTIN_FEATURES:
                continue
            name = settings.features.get(feature.value)
            if given is None and name is None:
                raise FeatureNotAvailableError(
                    f"No model is configured for {feature.value!r}.",
                    hint=f'Pass --model PATH, or set [features] {feature.value} = "NAME" '
                    "in localvision.toml.",
                )
            models[feature] = given or resolve_model(str(name), settings, labels=labels)
        requests = [
            FeatureRequest(
                f,
                max_results=max_results,
                min_score=min_score,
                aspect_ratios=ratios if f is Feature.CROP_HINTS else (),
            )
            for f in wanted
        ]
        code = _annotate_files(images, requests, models, settings, as_json, draw=draw)
    raise typer.Exit(code)


_MODEL_FEATURES = ("labels", "objects")


def _parse_features(text: str, with_models: set[Feature]) -> list[Feature]:
    """The features named in ``text``; ``auto``: those a model at hand answers, and the
    features that need none."""
    if text.strip().lower() == "auto":
        modelled = [f for f in (Feature.LABELS, Feature.OBJECTS) if f in with_models]
        faces = [Feature.FACES] if faces_available() else []
        return [*modelled, *faces, Feature.COLORS, Feature.CROP_HINTS]
    return feature_list(text)


def _numbers(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidParameterError(
            f"--aspect-ratios takes numbers separated by commas; got {text!r}."
        ) from None


def _annotate_files(
    arguments: list[str],
    features: list[FeatureRequest],
    models: dict[Feature, Model],
    settings: Settings,
    as_json: bool,
    *,
    draw: Path | None = None,
) -> int:
    paths = expand_image_paths(arguments)
    if not paths:
        raise InvalidParameterError(
            "No images found in " + ", ".join(arguments) + ".",
            hint="Pass image files or folders holding .jpg/.png/... files.",
        )
    requests = (AnnotateRequest(image=p, features=features, name=describe_source(p)) for p in paths)
    printer = ResultPrinter(as_json=as_json)
    drawn = _drawer(draw, len(paths), settings, printer)
    try:
        with engine_for(models, settings) as engine, progress(len(paths), enabled=True) as step:
            consume(engine.annotate_iter(requests), printer, step, on_result=drawn)
    finally:
        for model in models.values():
            model.close()
    return EXIT_FAILED_IMAGES if printer.failed else EXIT_OK


def _drawer(target: Path | None, count: int, settings: Settings, printer: ResultPrinter) -> Any:
    """A callback drawing each answered image to ``target`` (a file, or a folder for many).

    An image that cannot be drawn (it no longer decodes, the folder is not writable) gets one
    error line on stderr and counts as failed; the remaining images are still annotated.
    """
    if target is None:
        return None
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)

    def draw_one(result: AnnotateResult) -> None:
        if result.name is None or result.width is None:
            return  # the image itself failed: there is nothing to draw on
        single = count == 1 and target.suffix
        path = target if single else target / f"{Path(result.name).stem}.png"
        try:
            draw_annotations(result.name, result, path, limits=limits)
        except Exception as exc:  # one image's drawing must not end the run
            printer.report_failure(result.name, f"cannot draw it to {path}", exc)

    return draw_one


def main() -> None:
    """Console-script entry point."""
    app()

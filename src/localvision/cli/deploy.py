"""``localvision deploy render``: files that run the server on a platform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..config import Settings
from ..deploy import TARGETS, DeployRequest, ModelSource, render_files
from ..errors import InvalidParameterError, ModelNotFoundError
from .errors import reported
from .options import ConfigFile, JsonFlag, load_settings
from .typer_app import CommandGroup

__all__ = ["app", "model_source"]

app = CommandGroup(
    help="Write the files that run the server: Docker, Compose, Kubernetes, KServe, Cloud Run, "
    "AWS Lambda, a KubeRay RayService.",
    no_args_is_help=True,
)


@app.command("render")
def render_command(
    target: Annotated[str, typer.Argument(metavar="TARGET", help=f"One of: {', '.join(TARGETS)}.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The folder to write (the image's build context).")
    ],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="A model to serve (repeatable): NAME=URI (s3://, gs://, az://, abfs://, "
            "file://: fetched at start), NAME=PATH or a registered NAME[@VERSION|@ALIAS] "
            "(with --bake).",
            metavar="NAME[=URI]",
        ),
    ] = None,
    bake: Annotated[
        bool, typer.Option("--bake", help="Copy the model files into the image.")
    ] = False,
    gpu: Annotated[
        bool, typer.Option("--gpu", help="A CUDA image with ONNX Runtime's GPU build.")
    ] = False,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Serve without credentials (see serve --insecure).")
    ] = False,
    host: Annotated[str, typer.Option(help="Address the server listens on.")] = "0.0.0.0",
    port: Annotated[
        int,
        typer.Option(
            min=1, max=65535, help="The server's HTTP port (rayservice: KubeRay's 8000, always)."
        ),
    ] = 8080,
    image: Annotated[
        str | None, typer.Option(help="Image name:tag (default localvision:VERSION).")
    ] = None,
    name: Annotated[
        str, typer.Option(help="The name of the deployment, service or function.")
    ] = "localvision",
    replicas: Annotated[
        int,
        typer.Option(
            min=1, help="Fewest replicas (kubernetes, kserve, cloudrun; rayservice: from [ray])."
        ),
    ] = 2,
    max_replicas: Annotated[int, typer.Option(min=1, help="Most replicas.")] = 8,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="A feature needing an extra: faces, text (repeatable)."),
    ] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option("--extra", help="One more pip extra for the image (repeatable)."),
    ] = None,
    install: Annotated[
        str,
        typer.Option(
            help="checkout (a wheel built from this source tree), release (the published "
            "package) or auto."
        ),
    ] = "auto",
    cache: Annotated[
        str,
        typer.Option(help="kubernetes, kserve: the data home on an emptydir or a shared pvc."),
    ] = "emptydir",
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """Write ready-to-apply files for TARGET into --out, with the image they run.

    Example: localvision deploy render kubernetes --model pets=s3://models/pets/3/
    --config localvision.toml --out deploy/
    """
    with reported():
        settings = load_settings(config)
        request = DeployRequest(
            target=target,
            models=tuple(model_source(item, settings) for item in model or []),
            settings=settings,
            config_file=config,
            bake=bake,
            gpu=gpu,
            insecure=insecure,
            host=host,
            port=port,
            image=image,
            name=name,
            min_replicas=replicas,
            max_replicas=max_replicas,
            features=tuple(feature or []),
            extras=tuple(extra or []),
            install=install,
            cache=cache,
        )
        plan, written = render_files(request, out)
    for note in plan.notes:
        typer.echo(f"note: {note}", err=True)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "target": plan.target,
                    "out": str(out),
                    "image": plan.image,
                    "extras": list(plan.extras),
                    "files": written,
                    "notes": list(plan.notes),
                }
            )
        )
        return
    shown = [path for path in written if not path.startswith("source/")]
    source = len(written) - len(shown)
    typer.echo(
        f"wrote {plan.target} files to {out}: {', '.join(shown)}"
        + (f" (and {source} source files)" if source else "")
    )


def model_source(item: str, settings: Settings) -> ModelSource:
    """``NAME=URI``, ``NAME=PATH``, a configured ``NAME`` or a registered ``NAME[@REF]``."""
    from ..storage import is_storage_uri

    name, sep, where = item.partition("=")
    name, where = name.strip(), where.strip()
    if sep and not where:
        raise InvalidParameterError(
            f"--model {item!r} names no model.",
            hint="For example: --model pets=s3://models/pets/3/",
        )
    if not sep and name in settings.models:
        where = settings.models[name].path
    if where:
        if is_storage_uri(where):
            return ModelSource(name, uri=where)
        if "://" in where:
            raise InvalidParameterError(
                f"--model {name}={where}: the container fetches models from object storage "
                "(s3://, gs://, az://, abfs://, file://), not from that URL.",
                hint="localvision models pull it, then deploy it with --bake or push it.",
            )
        return _file_source(name, Path(where).expanduser())
    return _registered_source(name, settings)


def _file_source(name: str, path: Path) -> ModelSource:
    from ..models.card import find_sidecar
    from ..models.formats import detect_format

    if not path.is_file():
        raise ModelNotFoundError(f"Model file {path} does not exist.")
    return ModelSource(name, file=path, card=find_sidecar(path), format=detect_format(path).name)


def _registered_source(ref: str, settings: Settings) -> ModelSource:
    from ..registry import Registry, parse_ref

    name, _ = parse_ref(ref)
    registry = settings.home / "registry" / "registry.db"
    if not registry.is_file() or not Registry(settings.home).has(name):
        raise ModelNotFoundError(
            f"No registered model named {name!r}, and no =URI or =PATH given.",
            hint=f"Pass --model {name}=s3://... or --model {name}=PATH, or register it: "
            f"localvision models add {name} PATH",
        )
    entry = Registry(settings.home).get(ref)
    return ModelSource(name, file=entry.path, card=entry.card or None, format=entry.format)

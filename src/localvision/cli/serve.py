"""``localvision serve``: the cloud-compatible API server, and ``localvision keys``."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import ModelConfig, RouterSettings, Settings
from ..errors import InvalidParameterError, LocalVisionError
from ..server.auth import hash_key
from ..server.exposure import check_exposure
from .errors import EXIT_UNUSABLE, reported
from .options import ConfigFile, load_settings
from .typer_app import CommandGroup

__all__ = ["keys_app", "serve"]

keys_app = CommandGroup(help="Make API keys for server.api_keys.", no_args_is_help=True)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="HTTP port (default 8080).")
    ] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Also serve Google's gRPC API on this port."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Serve a model: NAME=PATH, or NAME=URI of a pushed version "
            "(s3://bucket/models/pets/3/: downloaded once, verified, cached) (repeatable).",
            metavar="NAME=PATH|URI",
        ),
    ] = None,
    labels_model: Annotated[
        str | None, typer.Option("--labels-model", help="The served model answering labels.")
    ] = None,
    objects_model: Annotated[
        str | None,
        typer.Option("--objects-model", help="The served detection model answering objects."),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Listen beyond loopback without credentials.")
    ] = False,
    local_only: Annotated[
        bool,
        typer.Option(
            "--local-only", help="Deny egress and ignore [cloud.router]: every answer is local."
        ),
    ] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Never touch the network for models given by URI: the cache only "
            "([storage] offline).",
        ),
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Serve the same app on Ray Serve: alone, [ray] address or a local Ray; or "
            "'auto', 'ray://HOST:10001' (gRPC stays on the plain server; see docs/scale.md).",
        ),
    ] = None,
    replicas: Annotated[
        int | None,
        typer.Option("--replicas", min=1, help="Ray Serve replicas (default: [ray] num_replicas)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    config: ConfigFile = None,
) -> None:
    """Serve Google Cloud Vision-, AWS Rekognition- and Open Inference Protocol-compatible APIs.

    The server listens at once and loads its models meanwhile: /healthz answers 200 from the
    start, /readyz 200 once every model is in (503 with the reason before). A model that
    cannot be served (checksum mismatch, corrupt file) stops the server with exit status 2.

    Example: localvision serve --model mobilenet=mobilenet_v2_1.0_224_quant.tflite
    """
    from ..server import ServerState
    from ..server.uvicorn_config import build_server

    _configure_logging(log_level)
    with reported():
        settings = _server_settings(
            load_settings(config),
            host,
            port,
            grpc_port,
            model,
            {"labels": labels_model, "objects": objects_model},
            insecure,
            local_only=local_only,
            offline=offline,
        )
        check_exposure(settings)  # the rule deploy render applies too
        if ray is not None:  # the same app as a Ray Serve deployment (localvision.scale)
            from ..scale.ray_serve import serve_on_ray

            raise typer.Exit(serve_on_ray(settings, ray, replicas=replicas))
        state = ServerState(settings)
        state.check()  # a missing file or an unknown name fails now, before listening
        # The connection limits of [server] (max_connections, read_timeout_s, keep_alive_s)
        # and a shutdown that stops gRPC together with HTTP come with the server built here.
        runner = build_server(settings, state=state, load_in_background=True)
    server = settings.server
    print(
        f"localvision listening on http://{server.host}:{server.port}; loading models: "
        f"{', '.join(settings.models) or 'none'} (/readyz answers 200 once they are in)",
        file=sys.stderr,
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to whatever handler
    # was installed before it; a no-op there turns a graceful stop into exit status 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        runner.run()
    except KeyboardInterrupt:  # a second Ctrl-C forces the exit
        pass
    finally:
        state.close()
    if runner.load_failure is not None:  # a model that must not be served stopped the server
        failure = runner.load_failure
        detail = failure if isinstance(failure, LocalVisionError) else repr(failure)
        print(f"error: refusing to serve: {detail}", file=sys.stderr)
        raise typer.Exit(EXIT_UNUSABLE)
    if not runner.started:  # the port was taken, or the app failed to start
        raise typer.Exit(3)  # uvicorn's own exit status for a failed start


@keys_app.command("hash")
def hash_command(
    key: Annotated[str, typer.Argument(metavar="KEY", help="The API key to hash.")],
) -> None:
    """Print the form of KEY to put in server.api_keys (the key itself is never stored)."""
    typer.echo(hash_key(key))


def _server_settings(
    settings: Settings,
    host: str | None,
    port: int | None,
    grpc_port: int | None,
    models: list[str] | None,
    feature_models: dict[str, str | None],
    insecure: bool,
    *,
    local_only: bool = False,
    offline: bool = False,
) -> Settings:
    configured = dict(settings.models)
    for item in models or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InvalidParameterError(
                f"--model takes NAME=PATH or NAME=URI; got {item!r}.",
                hint="For example: --model cats=cats.onnx",
            )
        where = path.strip()
        if "://" not in where:  # a URI (s3://, file://) is no path to expand
            where = str(Path(where).expanduser())
        configured[name.strip()] = ModelConfig(path=where)
    features = dict(settings.features)
    features.update({feature: name for feature, name in feature_models.items() if name})
    listen = {"host": host, "port": port, "grpc_port": grpc_port}
    server = settings.server.model_copy(
        update={k: v for k, v in listen.items() if v is not None}
        | ({"insecure": True} if insecure else {})
    )
    cloud = settings.cloud
    if local_only:  # nothing may leave, so no route, shadow or burst may name a provider
        cloud = cloud.model_copy(update={"egress": "deny", "router": RouterSettings()})
    storage = settings.storage
    if offline:
        storage = storage.model_copy(update={"offline": True})
    return settings.model_copy(
        update={
            "models": configured,
            "features": features,
            "server": server,
            "cloud": cloud,
            "storage": storage,
        }
    )


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(message)s",
        stream=sys.stderr,
    )

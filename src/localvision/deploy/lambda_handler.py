"""The AWS Lambda entry point: ``localvision.deploy.lambda_handler.handler``.

The same ASGI app as ``localvision serve`` (:func:`localvision.server.create_app`), behind
`Mangum <https://mangum.fastapiexpert.com/>`_, which turns API Gateway HTTP API (payload format
2.0) and Lambda Function URL events into HTTP requests and the app's responses back into what
Lambda returns. So every route answers as it does on a server: Google's
``POST /v1/images:annotate``, Rekognition's ``POST /``, the Open Inference Protocol, the native
API, ``/healthz`` and ``/readyz``, each with its own error format.

Configuration is read as the server reads it (:meth:`Settings.load`: ``LOCALVISION_CONFIG``,
then ``LOCALVISION_*`` variables); the image ``deploy render lambda`` writes bakes the models
and a config naming them, and sets ``LOCALVISION_HOME`` to ``/tmp`` (the only writable place).

Models load once per cold start, at the first invocation, and stay loaded while Lambda keeps
the execution environment. Mangum's lifespan handling is off on purpose: Mangum runs the app's
startup *and shutdown* around every single invocation, which would unload the models after
each request and load them again for the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..optional import import_optional
from ..server import ServerState, create_app

__all__ = ["LambdaHandler", "Warm", "handler", "make_handler", "warm"]

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
"""What Lambda calls: ``(event, context) -> response``."""


@dataclass(frozen=True)
class Warm:
    """What a cold start builds and every later invocation reuses."""

    state: ServerState
    handler: LambdaHandler


_warm: Warm | None = None
_lock = threading.Lock()


def make_handler(settings: Settings | None = None) -> Warm:
    """Load the models of ``settings`` (read from the environment when None) and build the
    Lambda handler over the server app; blocking."""
    mangum = import_optional("mangum", extra="lambda", purpose="answer AWS Lambda events")
    settings = settings if settings is not None else Settings.load()
    state = ServerState(settings)
    state.start()  # load and warm up every model now, once
    app = create_app(settings, state=state)
    adapter = mangum.Mangum(app, lifespan="off")
    return Warm(state=state, handler=adapter)


def warm() -> Warm:
    """This execution environment's handler, built at the first call."""
    global _warm
    with _lock:
        if _warm is None:
            _warm = make_handler()
        return _warm


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda's entry point (the image's ``CMD``): one HTTP request in, its response out."""
    return warm().handler(event, context)

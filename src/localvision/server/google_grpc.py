"""Google Cloud Vision over gRPC: ``google.cloud.vision.v1.ImageAnnotator/BatchAnnotateImages``.

gRPC is the official client's default transport. The service converts the protobuf request to
its JSON form and answers it with exactly the code that answers REST (:func:`google.answer`),
so both transports behave the same; whole-request errors become gRPC status codes. Message
classes come from ``google-cloud-vision`` (the ``grpc`` extra).

Credentials are the HTTP routes' own (:func:`auth.key_in`): with ``server.api_keys`` set, a
call carries ``x-goog-api-key: KEY`` or ``authorization: Bearer KEY`` metadata, or is refused
with ``UNAUTHENTICATED``.

Clients connect without TLS::

    transport = ImageAnnotatorGrpcTransport(channel=grpc.insecure_channel("127.0.0.1:8081"))
    client = vision.ImageAnnotatorClient(transport=transport)
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import LocalVisionError
from ..optional import import_optional
from ..wire import google_vision as wire
from . import google
from .auth import key_accepted, key_in
from .common import Caller, key_id
from .state import ServerState

__all__ = ["require_grpc", "start_grpc_server"]

log = logging.getLogger("localvision.server")
SERVICE = "google.cloud.vision.v1.ImageAnnotator"


_MODULES = (
    "grpc",
    "grpc.aio",
    "google.cloud.vision_v1.types.image_annotator",
    "google.protobuf.json_format",
)
"""What serving gRPC imports: grpcio, and Google's generated Vision types."""


def require_grpc() -> None:
    """Raise :class:`~localvision.errors.MissingDependencyError` (naming the ``grpc`` extra)
    unless gRPC can be served; the app calls it when it is built, so a missing extra is one
    line at start-up rather than a traceback from inside the server's start."""
    for module in _MODULES:
        import_optional(module, extra="grpc", purpose="serve gRPC")


async def start_grpc_server(state: ServerState, host: str, port: int) -> Any:
    """Start the gRPC server on ``host:port`` in the running event loop; returns it."""
    grpc, aio, types, json_format = (
        import_optional(module, extra="grpc", purpose="serve gRPC") for module in _MODULES
    )
    request_class = types.BatchAnnotateImagesRequest.pb()
    response_class = types.BatchAnnotateImagesResponse.pb()

    async def batch_annotate_images(request: Any, context: Any) -> Any:
        metadata = {
            str(name).lower(): value
            for name, value in context.invocation_metadata() or ()
            if isinstance(value, str)  # binary (-bin) metadata carries no credentials
        }
        offered = key_in(metadata)
        if not key_accepted(offered, state.settings):
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "The API key is missing or not valid."
            )
        body = json_format.MessageToDict(request)
        try:
            key = key_id(offered)
            private = str(metadata.get("x-localvision-sensitivity", "")).lower() == "private"
            listed = state.settings.server.private_keys
            who = Caller(private=private or (key is not None and key in listed), key=key)
            answer = await google.answer(state, body, caller=who)
        except LocalVisionError as exc:
            code = wire.rpc_code(exc)
            state.metrics.errors.labels("google-grpc", type(exc).__name__).inc()
            await context.abort(getattr(grpc.StatusCode, code.name), str(exc))
        except Exception as exc:  # answered as INTERNAL; the server keeps serving
            log.error("unhandled error in gRPC BatchAnnotateImages", exc_info=exc)
            await context.abort(grpc.StatusCode.INTERNAL, "Internal error.")
        state.metrics.requests.labels("google-grpc", "BatchAnnotateImages", "OK").inc()
        return json_format.ParseDict(answer, response_class(), ignore_unknown_fields=True)

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "BatchAnnotateImages": grpc.unary_unary_rpc_method_handler(
                batch_annotate_images,
                request_deserializer=request_class.FromString,
                response_serializer=lambda message: message.SerializeToString(),
            )
        },
    )
    server = aio.server(
        options=[
            ("grpc.max_receive_message_length", state.settings.server.max_body_bytes),
            ("grpc.max_send_message_length", state.settings.server.max_body_bytes),
        ]
    )
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    log.info("gRPC (google.cloud.vision.v1.ImageAnnotator) on %s:%s", host, bound)
    return server

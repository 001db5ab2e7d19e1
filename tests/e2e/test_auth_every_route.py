"""Credentials on every route (issue 12): with credentials configured, a walk over **every route
the app registers** finds each one closed to callers without them or with wrong ones, except
health and readiness, and ``/metrics`` and ``/docs`` when ``server.public_paths`` opens them.
A route added later is walked too, so it cannot slip through. Refusals are in each protocol's
own error format; the right credentials still work on each protocol, gRPC's Bearer included.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from localvision.config import ModelConfig, ServerSettings, Settings
from localvision.errors import ConfigError
from localvision.server import ServerState, create_app
from localvision.server.auth import hash_key

from ..conftest import solid_jpeg

KEY = "s3cret"
AKID, SECRET = "AKIDGATE", "gate-secret"
MODEL = "colours"
PLACEHOLDERS = {"name": MODEL, "version": "1", "project": "p", "location": "l"}
ALWAYS_OPEN = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"}
CONSOLE_OPEN = {"/console/login", "/console/static"}
"""The web console's login page and static files: open, so a browser can log in (checked in
test_the_console_opens_only_its_login_page_and_static_files)."""
WRONG = [
    {"x-goog-api-key": "wrong"},
    {"authorization": "Bearer wrong"},
    {"authorization": f"Bearer {KEY}x"},
]
AWS_TYPE = "application/x-amz-json-1.1"


def configured(home: Path, model: Path, **server: Any) -> Settings:
    return Settings(
        home=home,
        models={MODEL: ModelConfig(path=str(model))},
        features={"labels": MODEL},
        server=ServerSettings(**server),
    )


@pytest.fixture(scope="module")
def state(colour_model_path: Path, isolated_home: Path) -> Iterator[ServerState]:
    settings = configured(
        isolated_home,
        colour_model_path,
        api_keys=[hash_key(KEY)],
        aws_credentials={AKID: SECRET},
    )
    server_state = ServerState(settings)
    server_state.start()
    yield server_state
    server_state.close()


@pytest.fixture
def public(state: ServerState) -> Iterator[ServerState]:
    """The shared state with ``public_paths`` opening /metrics and /docs, for one test."""
    original = state.settings
    server = original.server.model_copy(update={"public_paths": ["/metrics", "/docs"]})
    state.settings = original.model_copy(update={"server": server})
    try:
        yield state
    finally:
        state.settings = original


def fastapi_app(app: Any) -> FastAPI:
    """The FastAPI app inside whatever ASGI middleware ``create_app`` wraps it in."""
    while not isinstance(app, FastAPI):
        app = app.app
    return app


def routes(entries: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path template, methods) of every route, nested routers and mounts included (recent
    FastAPI keeps an included router as one entry holding the router's own routes)."""
    for route in entries:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from routes(included.routes, prefix + route.include_context.prefix)
        elif getattr(route, "routes", None) is not None:  # a Mount
            yield from routes(route.routes, prefix + route.path)
        else:
            yield prefix + route.path, set(getattr(route, "methods", None) or {"GET"})


def registered(state: ServerState) -> list[tuple[str, str]]:
    """(method, path) for every route the app registers, path parameters filled in (but the
    console's open login page and static files)."""
    walked = []
    for template, methods in routes(fastapi_app(create_app(state.settings, state=state)).routes):
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PLACEHOLDERS.get(m[1], "x"), template)
        if path not in CONSOLE_OPEN:
            walked.extend((method, path) for method in sorted(methods))
    assert len(walked) > 20, walked  # the walk found the routes, not an empty shell
    return walked


def requests_to(state: ServerState, calls: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send ``calls`` (``httpx.Client.request`` arguments) to a fresh app over ASGI."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(state.settings, state=state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(**call) for call in calls]

    return asyncio.run(run())


def assert_refused_in_its_own_format(method: str, path: str, response: httpx.Response) -> None:
    """401/403 with the body of the protocol ``path`` belongs to."""
    where = f"{method} {path}"
    assert response.status_code in (401, 403), f"{where} answered {response.status_code}"
    if method == "HEAD":
        return
    body = response.json()
    if path == "/" and method == "POST":
        assert response.status_code == 403, where
        assert body["__type"] == "MissingAuthenticationTokenException", where
        assert response.headers["x-amzn-errortype"] == body["__type"]
        assert response.headers["content-type"].startswith(AWS_TYPE)
    elif path.startswith("/v2"):
        assert response.status_code == 401 and isinstance(body["error"], str), where
    elif path.startswith(("/v1/images:", "/v1/files:", "/v1/projects/")):
        assert response.status_code == 401, where
        assert body["error"]["status"] == "UNAUTHENTICATED", where
        assert body["error"]["code"] == 401, where
    else:
        assert response.status_code == 401, where
        assert body["error"]["code"] == "unauthenticated", where


def test_the_walk_covers_every_protocol(state: ServerState) -> None:
    walked = set(registered(state))
    for expected in [
        ("POST", "/"),
        ("POST", "/v1/images:annotate"),
        ("POST", "/v1/annotate"),
        ("GET", "/v1/models"),
        ("GET", f"/v2/models/{MODEL}"),
        ("POST", f"/v2/models/{MODEL}/versions/1/infer"),
        ("GET", "/metrics"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("GET", "/healthz"),
    ]:
        assert expected in walked


def test_every_route_refuses_a_caller_without_credentials(state: ServerState) -> None:
    walked = [(m, p) for m, p in registered(state) if p not in ALWAYS_OPEN]
    responses = requests_to(state, [{"method": m, "url": p} for m, p in walked])
    for (method, path), response in zip(walked, responses, strict=True):
        assert_refused_in_its_own_format(method, path, response)


def test_every_route_refuses_wrong_keys(state: ServerState) -> None:
    walked = [(m, p) for m, p in registered(state) if p not in ALWAYS_OPEN]
    calls = [
        {"method": m, "url": p, "headers": headers} for m, p in walked for headers in WRONG
    ] + [{"method": m, "url": p, "params": {"key": "wrong"}} for m, p in walked]
    responses = requests_to(state, calls)
    for call, response in zip(calls, responses, strict=True):
        assert_refused_in_its_own_format(call["method"], call["url"], response)


def test_paths_no_route_answers_are_closed_too(state: ServerState) -> None:
    paths = ["/nope", "/v2/models/colours/secret", "/v1/projects/p/images:other", "/healthz/"]
    responses = requests_to(state, [{"method": "GET", "url": p} for p in paths])
    for path, response in zip(paths, responses, strict=True):
        assert_refused_in_its_own_format("GET", path, response)


def test_the_console_opens_only_its_login_page_and_static_files(state: ServerState) -> None:
    walked = {p for _, p in registered(state)}
    assert {"/console/try", "/console/models", "/console/cloud", "/console/server"} <= walked
    page = {"headers": {"accept": "text/html"}}
    login, style, script, browsing, outside = requests_to(
        state,
        [
            {"method": "GET", "url": "/console/login", **page},
            {"method": "GET", "url": "/console/static/console.css"},
            {"method": "GET", "url": "/console/static/try.js"},
            {"method": "GET", "url": "/console/models", **page},
            {"method": "GET", "url": "/console/static/../../v1/models"},
        ],
    )
    assert login.status_code == 200 and 'name="key"' in login.text
    assert style.status_code == script.status_code == 200
    # A browser without a session is sent to the login page, not shown the console.
    assert browsing.status_code == 303 and browsing.headers["location"] == "/console/login"
    assert outside.status_code in (401, 404)


def test_health_and_readiness_stay_open(state: ServerState) -> None:
    walked = [(m, p) for m, p in registered(state) if p in ALWAYS_OPEN and m == "GET"]
    assert {p for _, p in walked} == ALWAYS_OPEN
    responses = requests_to(state, [{"method": m, "url": p} for m, p in walked])
    assert [r.status_code for r in responses] == [200] * len(walked)


def test_public_paths_open_metrics_and_docs_only(public: ServerState) -> None:
    opened = ["/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect"]
    responses = requests_to(public, [{"method": "GET", "url": p} for p in opened])
    assert [r.status_code for r in responses] == [200] * len(opened)
    assert b"localvision_requests_total" in responses[0].content
    assert responses[2].json()["info"]["title"] == "localvision"
    walked = [
        (m, p)
        for m, p in registered(public)
        if p not in ALWAYS_OPEN and p not in opened and m != "HEAD"
    ]
    responses = requests_to(public, [{"method": m, "url": p} for m, p in walked])
    for (method, path), response in zip(walked, responses, strict=True):
        assert_refused_in_its_own_format(method, path, response)


def test_by_default_metrics_and_docs_are_closed(state: ServerState) -> None:
    closed = ["/metrics", "/docs", "/openapi.json"]
    responses = requests_to(state, [{"method": "GET", "url": p} for p in closed])
    for path, response in zip(closed, responses, strict=True):
        assert_refused_in_its_own_format("GET", path, response)


def test_the_schema_alone_can_be_public(state: ServerState) -> None:
    server = state.settings.server.model_copy(update={"public_paths": ["/openapi.json"]})
    settings = state.settings.model_copy(update={"server": server})
    original, state.settings = state.settings, settings
    try:
        schema, docs = requests_to(
            state, [{"method": "GET", "url": "/openapi.json"}, {"method": "GET", "url": "/docs"}]
        )
    finally:
        state.settings = original
    assert schema.status_code == 200 and docs.status_code == 401


def test_public_paths_lists_only_what_it_can_open(state: ServerState) -> None:
    server = state.settings.server.model_copy(update={"public_paths": ["/v1/models"]})
    with pytest.raises(ConfigError, match="public_paths"):
        create_app(state.settings.model_copy(update={"server": server}), state=state)


# --------------------------------------------------------------- the right credentials


def oip_body() -> dict[str, Any]:
    image = base64.b64encode(solid_jpeg((250, 0, 0))).decode()
    return {"inputs": [{"name": "IMAGE", "shape": [1], "datatype": "BYTES", "data": [image]}]}


def google_body() -> dict[str, Any]:
    image = base64.b64encode(solid_jpeg((250, 0, 0))).decode()
    return {"requests": [{"image": {"content": image}, "features": [{"type": "LABEL_DETECTION"}]}]}


def test_the_right_key_opens_the_google_native_and_oip_routes(state: ServerState) -> None:
    image = base64.b64encode(solid_jpeg((250, 0, 0))).decode()
    google, annotate, models, meta, infer = requests_to(
        state,
        [
            {
                "method": "POST",
                "url": "/v1/images:annotate",
                "json": google_body(),
                "params": {"key": KEY},
            },
            {
                "method": "POST",
                "url": "/v1/annotate",
                "json": {"images": [{"content": image}]},
                "headers": {"x-goog-api-key": KEY},
            },
            {"method": "GET", "url": "/v1/models", "headers": {"authorization": f"Bearer {KEY}"}},
            {"method": "GET", "url": f"/v2/models/{MODEL}", "headers": {"x-goog-api-key": KEY}},
            {
                "method": "POST",
                "url": f"/v2/models/{MODEL}/infer",
                "json": oip_body(),
                "headers": {"authorization": f"Bearer {KEY}"},
            },
        ],
    )
    assert google.status_code == 200
    assert google.json()["responses"][0]["labelAnnotations"][0]["description"] == "red"
    assert annotate.status_code == 200 and annotate.json()["results"][0]["labels"]
    assert models.status_code == 200 and models.json()["models"][0]["name"] == MODEL
    assert meta.status_code == 200 and meta.json()["name"] == MODEL
    assert infer.status_code == 200 and infer.json()["outputs"][0]["name"] == "logits"


def aws_call(body: bytes, *, key: str = AKID, secret: str = SECRET) -> dict[str, Any]:
    """A DetectLabels call signed by botocore itself, for ``http://test/``."""
    pytest.importorskip("botocore", reason="botocore comes with boto3 (dev extra)")
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        "POST",
        "http://test/",
        data=body,
        headers={"X-Amz-Target": "RekognitionService.DetectLabels", "Content-Type": AWS_TYPE},
    )
    SigV4Auth(Credentials(key, secret), "rekognition", "us-east-1").add_auth(request)
    return {"method": "POST", "url": "/", "content": body, "headers": dict(request.headers)}


def test_sigv4_opens_the_aws_route_and_api_keys_do_not(state: ServerState) -> None:
    image = base64.b64encode(solid_jpeg((250, 0, 0))).decode()
    body = f'{{"Image": {{"Bytes": "{image}"}}}}'.encode()
    right, wrong_secret, unknown, api_key = requests_to(
        state,
        [
            aws_call(body),
            aws_call(body, secret="wrong"),
            aws_call(body, key="AKIDOTHER"),
            {
                "method": "POST",
                "url": "/",
                "content": body,
                "headers": {
                    "X-Amz-Target": "RekognitionService.DetectLabels",
                    "x-goog-api-key": KEY,
                },
            },
        ],
    )
    assert right.status_code == 200 and right.json()["Labels"][0]["Name"] == "red"
    assert wrong_secret.status_code == 403
    assert wrong_secret.json()["__type"] == "InvalidSignatureException"
    assert unknown.status_code == 400  # as Rekognition answers an unknown access key
    assert unknown.json()["__type"] == "UnrecognizedClientException"
    assert_refused_in_its_own_format("POST", "/", api_key)


def test_a_region_or_unsigned_payload_is_refused_before_the_body_is_read(
    state: ServerState,
) -> None:
    pytest.importorskip("botocore", reason="botocore comes with boto3 (dev extra)")
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def signed(region: str, headers: dict[str, str]) -> dict[str, Any]:
        request = AWSRequest("POST", "http://test/", data=b"{}", headers=headers)
        SigV4Auth(Credentials(AKID, SECRET), "rekognition", region).add_auth(request)
        return {"method": "POST", "url": "/", "content": b"{}", "headers": dict(request.headers)}

    target = {"X-Amz-Target": "RekognitionService.DetectLabels"}
    other_region, unsigned = requests_to(
        state,
        [
            signed("eu-west-1", target),
            signed("us-east-1", {**target, "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}),
        ],
    )
    assert other_region.status_code == 403
    assert other_region.json()["__type"] == "InvalidSignatureException"
    assert "region" in other_region.json()["message"]
    assert unsigned.status_code == 403 and "UNSIGNED-PAYLOAD" in unsigned.json()["message"]


def test_without_credentials_configured_every_route_is_open(
    colour_model_path: Path, isolated_home: Path
) -> None:
    open_state = ServerState(configured(isolated_home, colour_model_path))
    open_state.start()
    try:
        models, meta, metrics = requests_to(
            open_state,
            [
                {"method": "GET", "url": "/v1/models"},
                {"method": "GET", "url": f"/v2/models/{MODEL}"},
                {"method": "GET", "url": "/metrics"},
            ],
        )
    finally:
        open_state.close()
    assert [models.status_code, meta.status_code, metrics.status_code] == [200, 200, 200]


# ------------------------------------------------------------------------------ gRPC


@pytest.fixture(scope="module")
def grpc_target(colour_model_path: Path, isolated_home: Path) -> Iterator[str]:
    pytest.importorskip("grpc", reason="the grpc extra serves gRPC")
    pytest.importorskip("google.cloud.vision", reason="google-cloud-vision is a dev extra")
    from ..servers import live_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = configured(
        isolated_home, colour_model_path, api_keys=[hash_key(KEY)], grpc_port=port
    )
    with live_server(settings):
        yield f"127.0.0.1:{port}"


def test_grpc_accepts_the_key_as_bearer_or_header_and_nothing_else(grpc_target: str) -> None:
    import grpc
    from google.api_core import exceptions as google_exceptions
    from google.cloud import vision
    from google.cloud.vision_v1.services.image_annotator.transports import (
        ImageAnnotatorGrpcTransport,
    )

    channel = grpc.insecure_channel(grpc_target)
    client = vision.ImageAnnotatorClient(transport=ImageAnnotatorGrpcTransport(channel=channel))
    request = vision.AnnotateImageRequest(
        image=vision.Image(content=solid_jpeg((250, 0, 0))),
        features=[vision.Feature(type_=vision.Feature.Type.LABEL_DETECTION)],
    )

    def ask(*metadata: tuple[str, str]) -> Any:
        return client.batch_annotate_images(requests=[request], metadata=metadata, timeout=30)

    try:
        for accepted in [("authorization", f"Bearer {KEY}"), ("x-goog-api-key", KEY)]:
            answer = ask(accepted)
            assert answer.responses[0].label_annotations[0].description == "red"
        for refused in [(), (("authorization", "Bearer wrong"),), (("x-goog-api-key", "no"),)]:
            with pytest.raises(google_exceptions.Unauthenticated):
                ask(*refused)
    finally:
        channel.close()


@pytest.mark.parametrize(
    "server",
    [{"api_keys": [hash_key(KEY)]}, {"aws_credentials": {AKID: SECRET}}],
    ids=["api-keys-only", "sigv4-only"],
)
def test_one_kind_of_credential_closes_every_route(
    colour_model_path: Path, isolated_home: Path, server: dict[str, Any]
) -> None:
    """With API keys only, the AWS route took anyone (no SigV4 to check); with SigV4 only, every
    other route did (no keys to check). Credentials of either kind now close every route."""
    one_kind = ServerState(configured(isolated_home, colour_model_path, **server))
    one_kind.start()
    try:
        walked = [(m, p) for m, p in registered(one_kind) if p not in ALWAYS_OPEN]
        responses = requests_to(one_kind, [{"method": m, "url": p} for m, p in walked])
        if "api_keys" in server:  # the AWS route then takes the API key like the others
            (aws,) = requests_to(
                one_kind,
                [
                    {
                        "method": "POST",
                        "url": "/",
                        "headers": {
                            "x-goog-api-key": KEY,
                            "x-amz-target": "RekognitionService.DetectLabels",
                            "content-type": AWS_TYPE,
                        },
                        "content": json.dumps(
                            {"Image": {"Bytes": base64.b64encode(solid_jpeg((250, 0, 0))).decode()}}
                        ),
                    }
                ],
            )
            assert aws.status_code == 200, aws.text
    finally:
        one_kind.close()
    for (method, path), response in zip(walked, responses, strict=True):
        assert response.status_code in (401, 403), f"{method} {path}: {response.status_code}"
        if method != "HEAD" and path == "/":
            assert "__type" in response.json() and "x-amzn-errortype" in response.headers


def test_an_unverified_aws_request_holds_no_place_in_the_queue(state: ServerState) -> None:
    """A known access key id is no secret: a request carrying one but a signature that does not
    verify must not hold a queue place while its body trickles in (it used to be admitted
    before its body was read and its signature checked)."""
    pytest.importorskip("botocore", reason="botocore comes with boto3 (dev extra)")
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = AWSRequest(
        "POST",
        "http://test/",
        data=b"{}",
        headers={"X-Amz-Target": "RekognitionService.DetectLabels"},
    )
    SigV4Auth(Credentials(AKID, SECRET), "rekognition", "us-east-1").add_auth(signed)
    headers = {k: v for k, v in signed.headers.items() if k.lower() != "content-length"}
    assert state.batcher is not None
    held_while_reading: list[int] = []

    async def run() -> httpx.Response:
        more = asyncio.Event()

        async def body() -> Any:
            yield b'{"Image": '
            held_while_reading.append(state.batcher.held if state.batcher else -1)
            await more.wait()
            yield b'{"Bytes": ""}}'  # not the body that was signed

        transport = httpx.ASGITransport(app=create_app(state.settings, state=state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            call = asyncio.create_task(client.post("/", content=body(), headers=headers))
            while not held_while_reading and not call.done():
                await asyncio.sleep(0)  # let the request reach its second chunk
            more.set()
            return await call

    response = asyncio.run(run())
    assert held_while_reading == [0]
    assert response.status_code == 403 and response.json()["__type"] == "InvalidSignatureException"
    assert state.batcher.held == 0

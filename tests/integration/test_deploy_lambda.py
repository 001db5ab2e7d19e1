"""The AWS Lambda entry point, driven in-process with the events Lambda hands it.

API Gateway HTTP API (payload format 2.0) and Lambda Function URL events, shaped as AWS's
documentation shows them, carry a Google ``images:annotate`` LABEL_DETECTION request with a
base64 photo through :func:`localvision.deploy.lambda_handler.handler` into the real server
app and the tiny colour model; the labels must come out right, and a malformed body must come
back in Google's error format.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localvision.config import ModelConfig, Settings
from localvision.deploy import lambda_handler

from ..conftest import solid_jpeg

pytest.importorskip("mangum", reason="the lambda extra (mangum) answers Lambda events")

RED, BLUE = (220, 20, 20), (20, 20, 220)


@dataclass
class LambdaContext:
    """The attributes Lambda's Python runtime gives a handler's ``context``."""

    function_name: str = "localvision"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:localvision"
    memory_limit_in_mb: int = 3538
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/localvision"
    log_stream_name: str = "2026/12/01/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def api_gateway_event(method: str, path: str, body: bytes, *, base64_body: bool) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0, default stage."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "content-length": str(len(body)),
            "content-type": "application/json",
            "host": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
            "user-agent": "python-requests/2.32",
            "x-amzn-trace-id": "Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "r3pmxmplak",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "python-requests/2.32",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:19:03:58 +0000",
            "timeEpoch": 1796151838000,
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }


def function_url_event(method: str, path: str, body: bytes, *, base64_body: bool) -> dict[str, Any]:
    """A Lambda Function URL event (payload format 2.0; auth type NONE)."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "abcdefghijklmnopqrstuvwxyz0123.lambda-url.us-east-1.on.aws",
            "user-agent": "curl/8.5.0",
            "x-amzn-tls-cipher-suite": "TLS_AES_128_GCM_SHA256",
            "x-amzn-tls-version": "TLSv1.3",
            "x-amzn-trace-id": "Root=1-6570d2a1-0123456789abcdef01234567",
            "x-forwarded-for": "198.51.100.23",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz0123",
            "domainName": "abcdefghijklmnopqrstuvwxyz0123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz0123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.23",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "f2c5d6b2-9e4a-4f6b-9d3e-0a1b2c3d4e5f",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:19:04:12 +0000",
            "timeEpoch": 1796151852000,
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }


EventMaker = Callable[..., dict[str, Any]]
EVENTS = [
    pytest.param(api_gateway_event, False, id="api-gateway-v2"),
    pytest.param(function_url_event, True, id="function-url-base64"),
]


def annotate_body(colour: tuple[int, int, int]) -> bytes:
    """Google's images:annotate with one base64 photo and LABEL_DETECTION."""
    content = base64.b64encode(solid_jpeg(colour)).decode()
    request = {"image": {"content": content}, "features": [{"type": "LABEL_DETECTION"}]}
    return json.dumps({"requests": [request]}).encode()


def labels_of(response: dict[str, Any]) -> list[str]:
    assert response["statusCode"] == 200, response
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body)
    annotations = json.loads(body)["responses"][0]["labelAnnotations"]
    return [a["description"] for a in annotations]


@pytest.fixture(scope="module")
def warm(colour_model_path: Path, isolated_home: Path) -> Iterator[lambda_handler.Warm]:
    settings = Settings(
        home=isolated_home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
    )
    built = lambda_handler.make_handler(settings)
    yield built
    built.state.close()


@pytest.mark.parametrize(("make_event", "base64_body"), EVENTS)
@pytest.mark.parametrize(("colour", "label"), [(RED, "red"), (BLUE, "blue")])
def test_google_label_detection_through_lambda(
    warm: lambda_handler.Warm,
    make_event: EventMaker,
    base64_body: bool,
    colour: tuple[int, int, int],
    label: str,
) -> None:
    event = make_event(
        "POST", "/v1/images:annotate", annotate_body(colour), base64_body=base64_body
    )
    response = warm.handler(event, LambdaContext())
    assert response["headers"]["content-type"].startswith("application/json")
    assert labels_of(response)[0] == label


@pytest.mark.parametrize(("make_event", "base64_body"), EVENTS)
def test_malformed_json_answers_in_googles_error_format(
    warm: lambda_handler.Warm, make_event: EventMaker, base64_body: bool
) -> None:
    event = make_event("POST", "/v1/images:annotate", b'{"requests": [', base64_body=base64_body)
    response = warm.handler(event, LambdaContext())
    assert response["statusCode"] == 400
    error = json.loads(response["body"])["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"]


def test_models_stay_loaded_between_invocations(warm: lambda_handler.Warm) -> None:
    """Mangum would run the app's startup and shutdown around every invocation; the handler
    keeps the server ready and the same model between them."""
    model = warm.state.models["colours"]
    for colour, label in ((RED, "red"), (BLUE, "blue"), (RED, "red")):
        event = api_gateway_event(
            "POST", "/v1/images:annotate", annotate_body(colour), base64_body=False
        )
        assert labels_of(warm.handler(event, LambdaContext()))[0] == label
        assert warm.state.ready
        assert warm.state.models["colours"] is model
    ready = warm.handler(api_gateway_event("GET", "/readyz", b"", base64_body=False), None)
    assert ready["statusCode"] == 200 and json.loads(ready["body"])["ready"] is True


def test_handler_reads_its_config_from_the_environment_once(
    colour_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image's CMD: configuration from LOCALVISION_CONFIG and LOCALVISION_HOME, models
    loaded at the first invocation and reused by the next."""
    config = tmp_path / "localvision.toml"
    config.write_text(f'[models.colours]\npath = "{colour_model_path.as_posix()}"\n')
    monkeypatch.setenv("LOCALVISION_CONFIG", str(config))
    monkeypatch.setenv("LOCALVISION_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(lambda_handler, "_warm", None)  # a cold start
    try:
        event = function_url_event(
            "POST", "/v1/images:annotate", annotate_body(BLUE), base64_body=False
        )
        assert labels_of(lambda_handler.handler(event, LambdaContext()))[0] == "blue"
        first = lambda_handler.warm()
        event = function_url_event(
            "POST", "/v1/images:annotate", annotate_body(RED), base64_body=False
        )
        assert labels_of(lambda_handler.handler(event, LambdaContext()))[0] == "red"
        assert lambda_handler.warm() is first
        assert first.state.settings.home == tmp_path / "home"
    finally:
        if lambda_handler._warm is not None:
            lambda_handler._warm.state.close()

"""localvision's own API, docs, health, metrics and load shedding."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from localvision.config import ModelConfig, ServerSettings, Settings
from localvision.server import ServerState, create_app
from localvision.server.auth import hash_key
from localvision.types import AnnotateRequest, AnnotateResult

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer


def test_multipart_upload_of_several_images(colour_server: LiveServer) -> None:
    files = [
        ("image", ("red.jpg", solid_jpeg((250, 0, 0)), "image/jpeg")),
        ("image", ("broken.jpg", b"garbage", "image/jpeg")),
        ("image", ("blue.jpg", solid_jpeg((0, 0, 250)), "image/jpeg")),
    ]
    response = httpx.post(
        colour_server.url + "/v1/annotate",
        files=files,
        data={"features": "labels", "max_results": "1"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert response.status_code == 200
    red, broken, blue = response.json()["results"]
    assert red["image"] == "red.jpg" and red["labels"][0]["label"] == "red"
    assert len(red["labels"]) == 1
    assert broken["error"]["type"] == "ImageDecodeError"
    assert blue["labels"][0]["label"] == "blue"


def test_json_annotate_and_its_errors(colour_server: LiveServer) -> None:
    url = colour_server.url + "/v1/annotate"
    good = {"images": [{"content": base64.b64encode(solid_jpeg((0, 250, 0))).decode()}]}
    response = httpx.post(url, json=good, timeout=CLIENT_TIMEOUT_S)
    assert response.status_code == 200
    assert response.json()["results"][0]["labels"][0]["label"] == "green"
    for body, status, code in [
        ({"images": []}, 400, "invalid_parameter"),
        ({"images": [{"content": "***"}]}, 400, "invalid_parameter"),
        ({**good, "features": ["sentiment"]}, 400, "invalid_parameter"),
        ({**good, "max_results": 0}, 400, "invalid_parameter"),
    ]:
        answer = httpx.post(url, json=body, timeout=CLIENT_TIMEOUT_S)
        assert answer.status_code == status and answer.json()["error"]["code"] == code
    objects = httpx.post(url, json={**good, "features": ["objects"]}, timeout=CLIENT_TIMEOUT_S)
    assert objects.json()["results"][0]["error"]["type"] == "FeatureNotAvailableError"


def test_image_uri_to_loopback_is_refused_by_default(colour_server: LiveServer) -> None:
    body = {
        "images": [
            {"uri": colour_server.url + "/healthz"},
            {"uri": "http://169.254.169.254/x"},
            {"uri": "file:///etc/passwd"},
        ]
    }
    results = httpx.post(
        colour_server.url + "/v1/annotate", json=body, timeout=CLIENT_TIMEOUT_S
    ).json()["results"]
    assert "non-public address" in results[0]["error"]["message"]
    assert "non-public address" in results[1]["error"]["message"]
    assert "http or https" in results[2]["error"]["message"]


def test_models_listing_docs_and_openapi(colour_server: LiveServer) -> None:
    listing = httpx.get(colour_server.url + "/v1/models", timeout=CLIENT_TIMEOUT_S)
    (model,) = listing.json()["models"]
    assert model["name"] == "colours" and model["features"] == ["labels"]
    assert model["card"]["labels"]["count"] == 4
    assert httpx.get(colour_server.url + "/docs", timeout=CLIENT_TIMEOUT_S).status_code == 200
    spec = httpx.get(colour_server.url + "/openapi.json", timeout=CLIENT_TIMEOUT_S).json()
    assert "/v1/annotate" in spec["paths"] and "/v1/models" in spec["paths"]


def test_health_readiness_and_metrics(colour_server: LiveServer) -> None:
    healthz = httpx.get(colour_server.url + "/healthz", timeout=CLIENT_TIMEOUT_S)
    assert healthz.json() == {"status": "ok"}
    readyz = httpx.get(colour_server.url + "/readyz", timeout=CLIENT_TIMEOUT_S)
    assert readyz.json() == {"ready": True, "models": ["colours"]}
    httpx.post(colour_server.url + "/v1/annotate", json={"images": []}, timeout=CLIENT_TIMEOUT_S)
    text = httpx.get(colour_server.url + "/metrics", timeout=CLIENT_TIMEOUT_S).text
    assert 'localvision_requests_total{operation="annotate",protocol="native",status="400"}' in text
    assert "localvision_request_duration_seconds_bucket" in text
    assert "localvision_batch_size_bucket" in text
    assert "localvision_queue_depth" in text


# ------------------------------------------------------------------------ in-process, shedding


class SlowEngine:
    """Wraps the real engine and takes ``delay`` seconds longer per call."""

    def __init__(self, inner: object, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        time.sleep(self.delay)
        return self.inner.annotate(requests)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]


@pytest.fixture
def slow_state(colour_model_path: Path, isolated_home: Path) -> Iterator[ServerState]:
    settings = Settings(
        home=isolated_home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        server=ServerSettings(
            api_keys=[hash_key("s3cret")], workers=1, max_queue=1, max_batch_size=1
        ),
    )
    state = ServerState(settings)
    state.start()
    state.engine = SlowEngine(state.engine, 0.3)  # type: ignore[assignment]
    state.schedule()
    yield state
    state.close()


def google_body() -> dict:
    content = base64.b64encode(solid_jpeg((250, 0, 0))).decode()
    return {"requests": [{"image": {"content": content}, "features": [{"type": 4}]}]}


async def burst(state: ServerState, path: str, n: int, **kwargs: object) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=create_app(state.settings, state=state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await asyncio.gather(*(client.post(path, **kwargs) for _ in range(n)))  # type: ignore[arg-type]


def test_overload_is_shed_in_each_protocols_own_words(slow_state: ServerState) -> None:
    key = {"x-goog-api-key": "s3cret"}
    google = asyncio.run(
        burst(slow_state, "/v1/images:annotate", 5, json=google_body(), headers=key)
    )
    statuses = sorted(r.status_code for r in google)
    assert statuses.count(200) == 2 and statuses.count(429) == 3  # 1 running + 1 queued
    shed = next(r for r in google if r.status_code == 429)
    assert shed.json()["error"]["status"] == "RESOURCE_EXHAUSTED"

    image = base64.b64encode(solid_jpeg((250, 0, 0))).decode()
    native = asyncio.run(
        burst(slow_state, "/v1/annotate", 4, json={"images": [{"content": image}]}, headers=key)
    )
    refused = [r for r in native if r.status_code == 503]
    assert refused and refused[0].headers["retry-after"] == "1"

    aws = asyncio.run(
        burst(
            slow_state,
            "/",
            4,
            json={"Image": {"Bytes": image}},
            headers={"X-Amz-Target": "RekognitionService.DetectLabels", **key},
        )
    )
    # As Rekognition answers it: ThrottlingException is a 400 (botocore retries it by name).
    throttled = [r for r in aws if r.status_code == 400]
    assert throttled and throttled[0].json()["__type"] == "ThrottlingException"
    assert throttled[0].headers["retry-after"] == "1"
    assert shed.headers["retry-after"] == "1"


def test_requests_over_the_time_limit_answer_deadline_exceeded(slow_state: ServerState) -> None:
    server = slow_state.settings.server.model_copy(update={"request_timeout_s": 0.05})
    slow_state.settings = slow_state.settings.model_copy(update={"server": server})
    slow_state.schedule()
    (response,) = asyncio.run(
        burst(
            slow_state,
            "/v1/images:annotate",
            1,
            json=google_body(),
            headers={"x-goog-api-key": "s3cret"},
        )
    )
    assert response.status_code == 504
    assert response.json()["error"]["status"] == "DEADLINE_EXCEEDED"


def test_api_keys_are_required_when_configured(slow_state: ServerState) -> None:
    (missing,) = asyncio.run(burst(slow_state, "/v1/images:annotate", 1, json=google_body()))
    assert missing.status_code == 401 and missing.json()["error"]["status"] == "UNAUTHENTICATED"
    (wrong,) = asyncio.run(burst(slow_state, "/v1/images:annotate?key=nope", 1, json=google_body()))
    assert wrong.status_code == 401
    (right,) = asyncio.run(
        burst(slow_state, "/v1/images:annotate?key=s3cret", 1, json=google_body())
    )
    assert right.status_code == 200
    (native,) = asyncio.run(
        burst(
            slow_state,
            "/v1/annotate",
            1,
            json={"images": []},
            headers={"authorization": "Bearer nope"},
        )
    )
    assert native.status_code == 401 and native.json()["error"]["code"] == "unauthenticated"


def test_oversized_bodies_are_refused_before_being_read(slow_state: ServerState) -> None:
    slow_state.settings = slow_state.settings.model_copy(
        update={"server": slow_state.settings.server.model_copy(update={"max_body_bytes": 1000})}
    )
    big = b"x" * 5000
    (google,) = asyncio.run(burst(slow_state, "/v1/images:annotate?key=s3cret", 1, content=big))
    assert google.status_code == 400 and "at most 1,000" in google.json()["error"]["message"]
    (native,) = asyncio.run(
        burst(slow_state, "/v1/annotate", 1, content=big, headers={"x-goog-api-key": "s3cret"})
    )
    assert native.status_code == 413
    (oip,) = asyncio.run(
        burst(
            slow_state,
            "/v2/models/colours/infer",
            1,
            content=big,
            headers={"x-goog-api-key": "s3cret"},  # OIP needs the key too since issue 12 item 1
        )
    )
    assert oip.status_code == 413 and "at most 1,000" in oip.json()["error"]


def test_chunked_uploads_are_size_limited_too(slow_state: ServerState) -> None:
    slow_state.settings = slow_state.settings.model_copy(
        update={"server": slow_state.settings.server.model_copy(update={"max_body_bytes": 1000})}
    )
    boundary = "lvboundary"
    payload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + b"x" * 5000
        + f"\r\n--{boundary}--\r\n".encode()
    )

    async def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(payload), 512):
            yield payload[start : start + 512]

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(slow_state.settings, state=slow_state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                "/v1/annotate",
                content=chunks(),
                headers={
                    "content-type": f"multipart/form-data; boundary={boundary}",
                    "x-goog-api-key": "s3cret",
                },
            )

    response = asyncio.run(send())
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"

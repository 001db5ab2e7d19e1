"""Issue 12, items 2, 7 and 9: images per request, admission by images, giving up on requests
nobody waits for, one queue for every protocol, cheap shedding, and malformed input that used
to get a 500.

Everything runs in-process (httpx's ASGI transport, or the app called with hand-made ASGI
messages) on the tiny colour model; an engine held at a gate makes "the queue is full" a state
the test sets up, never a race against the clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from localvision.config import ModelConfig, ServerSettings, Settings
from localvision.server import ServerState, create_app
from localvision.types import AnnotateRequest, AnnotateResult, Feature

from ..conftest import solid_jpeg

RED = solid_jpeg((250, 0, 0))
AWS = {"X-Amz-Target": "RekognitionService.DetectLabels"}


class GatedEngine:
    """The real engine behind a gate: each batch waits for ``gate``; records the images."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.started = threading.Event()
        self.images: list[bytes] = []
        self.lock = threading.Lock()

    @property
    def features(self) -> frozenset[Feature]:
        return frozenset(self.inner.features)

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        with self.lock:
            self.images.extend(bytes(r.image) for r in requests)  # type: ignore[arg-type]
        self.started.set()
        assert self.gate.wait(60), "the test never opened the gate"
        results: list[AnnotateResult] = self.inner.annotate(requests)
        return results

    def close(self) -> None:
        self.inner.close()


def make_state(colour_model_path: Path, home: Path, **server: Any) -> ServerState:
    settings = Settings(
        home=home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
        server=ServerSettings(**server),
    )
    state = ServerState(settings)
    state.start()
    return state


@pytest.fixture
def state(colour_model_path: Path, isolated_home: Path) -> Iterator[ServerState]:
    """A started server state: one worker, one batch at a time, a short queue."""
    state = make_state(
        colour_model_path, isolated_home, workers=1, max_queue=2, max_images_per_request=8
    )
    yield state
    state.close()


@pytest.fixture
def gated(state: ServerState) -> Iterator[GatedEngine]:
    """``state``'s engine held at a gate (opened at the end whatever happens)."""
    engine = GatedEngine(state.engine)
    state.engine = engine  # type: ignore[assignment]
    state.schedule()
    yield engine
    engine.gate.set()


def client(state: ServerState) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(state.settings, state=state))
    return httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (generously) for ``condition``: an event to happen, not a time to pass."""
    for _ in range(6000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def hold_the_engine(http: httpx.AsyncClient, engine: GatedEngine) -> asyncio.Task[Any]:
    """One native request running at the gate; the queue behind it is empty."""
    task = asyncio.create_task(http.post("/v1/annotate", json=native_body(RED)))
    assert await asyncio.to_thread(engine.started.wait, 60)
    return task


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def native_body(*images: bytes) -> dict[str, Any]:
    return {"images": [{"content": b64(i)} for i in images]}


def google_body(*images: bytes) -> dict[str, Any]:
    return {"requests": [{"image": {"content": b64(i)}, "features": [{"type": 4}]} for i in images]}


def oip_bytes(*images: bytes, name: str = "IMAGE") -> tuple[bytes, dict[str, str]]:
    """A binary-extension infer request of encoded images, as tritonclient sends it."""
    payload = b"".join(struct.pack("<I", len(i)) + i for i in images)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": [len(images)],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(payload)},
                }
            ]
        }
    ).encode()
    return header + payload, {"Inference-Header-Content-Length": str(len(header))}


async def still_serving(http: httpx.AsyncClient) -> None:
    """The server answers a good request on every protocol."""
    native = await http.post("/v1/annotate", json=native_body(RED))
    assert native.status_code == 200 and native.json()["results"][0]["labels"][0]["label"] == "red"
    google = await http.post("/v1/images:annotate", json=google_body(RED))
    assert google.status_code == 200 and "labelAnnotations" in google.json()["responses"][0]
    aws = await http.post("/", json={"Image": {"Bytes": b64(RED)}}, headers=AWS)
    assert aws.status_code == 200 and aws.json()["Labels"]
    content, headers = oip_bytes(RED)
    oip = await http.post("/v2/models/colours/infer", content=content, headers=headers)
    assert oip.status_code == 200


# ------------------------------------------------------------------ images per request


def test_too_many_images_are_refused_before_anything_is_decoded(
    state: ServerState, gated: GatedEngine
) -> None:
    gated.gate.set()
    junk = b"not an image"

    async def go() -> None:
        async with client(state) as http:
            # Nine images over a cap of eight; the first is not even base64: the count is
            # checked before any of them is looked at.
            body = {"images": [{"content": "***"}] + [{"content": b64(junk)}] * 8}
            native = await http.post("/v1/annotate", json=body)
            assert native.status_code == 400
            assert "At most 8 images" in native.json()["error"]["message"]

            files = [("image", (f"{i}.jpg", junk, "image/jpeg")) for i in range(9)]
            form = await http.post("/v1/annotate", files=files)
            assert form.status_code == 400 and form.json()["error"]["code"] == "invalid_parameter"

            content, headers = oip_bytes(*[junk] * 9)
            oip = await http.post("/v2/models/colours/infer", content=content, headers=headers)
            assert oip.status_code == 400 and "at most 8" in oip.json()["error"]

            declared = {  # the shape alone says 20,000: refused before the data is read
                "inputs": [{"name": "IMAGE", "shape": [20000], "datatype": "BYTES", "data": []}]
            }
            oip = await http.post("/v2/models/colours/infer", json=declared)
            assert oip.status_code == 400 and "at most 8" in oip.json()["error"]

            tensor = {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [9, 3, 16, 16],
                        "datatype": "FP32",
                        "data": [0.0] * (9 * 3 * 16 * 16),
                    }
                ]
            }
            oip = await http.post("/v2/models/colours/infer", json=tensor)
            assert oip.status_code == 400 and "at most 8" in oip.json()["error"]

            google = await http.post("/v1/images:annotate", json=google_body(*[junk] * 17))
            assert google.status_code == 400
            await still_serving(http)

    asyncio.run(go())
    assert junk not in gated.images  # nothing over the cap reached the engine


def test_the_cap_allows_exactly_the_configured_number(state: ServerState) -> None:
    async def go() -> None:
        async with client(state) as http:
            native = await http.post("/v1/annotate", json=native_body(*[RED] * 8))
            assert [r["labels"][0]["label"] for r in native.json()["results"]] == ["red"] * 8
            content, headers = oip_bytes(*[RED] * 8)
            oip = await http.post("/v2/models/colours/infer", content=content, headers=headers)
            assert oip.status_code == 200

    asyncio.run(go())


# ------------------------------------------------------------------ admission and the queue


def test_admission_counts_images_on_every_protocol(state: ServerState, gated: GatedEngine) -> None:
    """Bound: max_queue 2 + 1 worker = 3 images waiting. A request of two images fits an empty
    queue; a second one would make four and is shed, though only one request waits."""

    async def go() -> None:
        async with client(state) as http:
            first = await hold_the_engine(http, gated)
            two = asyncio.create_task(http.post("/v1/annotate", json=native_body(RED, RED)))
            await until(lambda: state.batcher is not None and state.batcher.queued == 2)
            shed = await http.post("/v1/annotate", json=native_body(RED, RED))
            assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
            content, headers = oip_bytes(RED, RED)
            oip = await http.post("/v2/models/colours/infer", content=content, headers=headers)
            assert oip.status_code == 503 and oip.headers["retry-after"] == "1"
            google = await http.post("/v1/images:annotate", json=google_body(RED, RED))
            assert google.status_code == 429 and google.headers["retry-after"] == "1"
            one = asyncio.create_task(http.post("/v1/annotate", json=native_body(RED)))
            await until(lambda: state.batcher is not None and state.batcher.queued == 3)
            gated.gate.set()
            answers = await asyncio.gather(first, two, one)
            assert [a.status_code for a in answers] == [200, 200, 200]
            await still_serving(http)

    asyncio.run(go())


def test_open_inference_waits_in_the_same_queue(state: ServerState, gated: GatedEngine) -> None:
    async def go() -> None:
        async with client(state) as http:
            first = await hold_the_engine(http, gated)
            content, headers = oip_bytes(RED)
            oip = asyncio.create_task(
                http.post("/v2/models/colours/infer", content=content, headers=headers)
            )
            await until(lambda: state.batcher is not None and state.batcher.queued == 1)
            aws = asyncio.create_task(
                http.post("/", json={"Image": {"Bytes": b64(RED)}}, headers=AWS)
            )
            await until(lambda: state.batcher is not None and state.batcher.queued == 2)
            tensor = {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [2, 3, 16, 16],
                        "datatype": "FP32",
                        "data": [0.5] * (2 * 3 * 16 * 16),
                    }
                ]
            }  # two images: 2 + 2 > 3
            shed = await http.post("/v2/models/colours/infer", json=tensor)
            assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
            gated.gate.set()
            answers = await asyncio.gather(first, oip, aws)
            assert [a.status_code for a in answers] == [200, 200, 200]

    asyncio.run(go())


def test_aws_throttling_is_a_400_with_retry_after(state: ServerState, gated: GatedEngine) -> None:
    async def go() -> None:
        async with client(state) as http:
            first = await hold_the_engine(http, gated)
            three = asyncio.create_task(http.post("/v1/annotate", json=native_body(RED, RED, RED)))
            await until(lambda: state.batcher is not None and state.batcher.queued == 3)
            aws = await http.post("/", json={"Image": {"Bytes": b64(RED)}}, headers=AWS)
            assert aws.status_code == 400
            assert aws.json()["__type"] == "ThrottlingException"
            assert aws.headers["x-amzn-errortype"] == "ThrottlingException"
            assert aws.headers["retry-after"] == "1"
            gated.gate.set()
            await asyncio.gather(first, three)

    asyncio.run(go())


async def asgi_post(
    app: Any, path: str, body: bytes, *, headers: dict[str, str], disconnect: asyncio.Event
) -> tuple[list[dict[str, Any]], list[str]]:
    """Call the app with hand-made ASGI messages: the body, then ``http.disconnect`` once
    ``disconnect`` is set. Returns what the app sent and what it received."""
    received: list[str] = []
    sent: list[dict[str, Any]] = []
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*raw, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }

    async def receive() -> dict[str, Any]:
        if not received:
            received.append("body")
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnect.wait()
        received.append("disconnect")
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent, received


def test_a_request_whose_client_disconnects_leaves_the_queue_and_never_runs(
    state: ServerState, gated: GatedEngine
) -> None:
    blue = solid_jpeg((0, 0, 250))

    async def go() -> None:
        app = create_app(state.settings, state=state)
        async with client(state) as http:
            first = await hold_the_engine(http, gated)
            gone = asyncio.Event()
            body = json.dumps(native_body(blue)).encode()
            call = asyncio.create_task(
                asgi_post(
                    app,
                    "/v1/annotate",
                    body,
                    headers={"content-type": "application/json"},
                    disconnect=gone,
                )
            )
            await until(lambda: state.batcher is not None and state.batcher.queued == 1)
            gone.set()  # the client goes away while its image waits
            sent, _ = await call
            assert state.batcher is not None and state.batcher.queued == 0
            assert sent[0]["status"] == 499
            gated.gate.set()
            assert (await first).status_code == 200
            await still_serving(http)

    asyncio.run(go())
    assert blue not in gated.images


def test_a_queued_request_past_the_time_limit_never_runs(
    colour_model_path: Path, isolated_home: Path
) -> None:
    state = make_state(colour_model_path, isolated_home, workers=1, max_queue=4)
    engine = GatedEngine(state.engine)
    state.engine = engine  # type: ignore[assignment]
    state.schedule()
    blue = solid_jpeg((0, 0, 250))

    async def go() -> None:
        async with client(state) as http:
            first = await hold_the_engine(http, engine)
            assert state.batcher is not None
            state.batcher.timeout_s = 0.5  # from now on: only the late request runs out of time
            late = await http.post("/v1/images:annotate", json=google_body(blue))
            assert late.status_code == 504  # answered while the engine still holds the first
            assert late.json()["error"]["status"] == "DEADLINE_EXCEEDED"
            assert state.batcher is not None and state.batcher.queued == 0
            engine.gate.set()
            await first
            await still_serving(http)

    try:
        asyncio.run(go())
    finally:
        engine.gate.set()
        state.close()
    assert blue not in engine.images


def test_a_full_queue_sheds_before_reading_the_body(state: ServerState, gated: GatedEngine) -> None:
    async def go() -> None:
        app = create_app(state.settings, state=state)
        async with client(state) as http:
            first = await hold_the_engine(http, gated)
            three = asyncio.create_task(http.post("/v1/annotate", json=native_body(RED, RED, RED)))
            await until(lambda: state.batcher is not None and state.batcher.queued == 3)
            never = asyncio.Event()
            content, oip_headers = oip_bytes(RED)
            for path, body, headers, status in [
                ("/v1/images:annotate", json.dumps(google_body(RED)).encode(), {}, 429),
                ("/v1/annotate", json.dumps(native_body(RED)).encode(), {}, 503),
                ("/", json.dumps({"Image": {"Bytes": b64(RED)}}).encode(), AWS, 400),
                ("/v2/models/colours/infer", content, oip_headers, 503),
            ]:
                sent, received = await asgi_post(app, path, body, headers=headers, disconnect=never)
                assert sent[0]["status"] == status, path
                retry = dict(sent[0]["headers"]).get(b"retry-after")
                assert retry == b"1", path
                assert received == [], path  # the body was never read
            gated.gate.set()
            await asyncio.gather(first, three)

    asyncio.run(go())


# ------------------------------------------------------------------ malformed input


def deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize("depth", [100_000, 5_000, 900])
def test_deeply_nested_json_is_a_client_error_everywhere(state: ServerState, depth: int) -> None:
    nested = deep(depth)

    async def go() -> None:
        async with client(state) as http:
            red = b64(RED)
            templates: list[tuple[str, str, dict[str, str]]] = [  # "@" stands for the nesting
                ("/v1/images:annotate", "@", {}),
                ("/v1/images:annotate", '{"requests":[{"image":{"content":@}}]}', {}),
                (
                    "/v1/images:annotate",
                    '{"requests":[{"image":{"content":"AA=="},"features":[{"type":@}]}]}',
                    {},
                ),
                ("/v1/annotate", "@", {}),
                ("/v1/annotate", '{"images":[{"content":@}]}', {}),
                ("/v1/annotate", '{"images":[{"content":"AA=="}],"features":@}', {}),
                ("/v1/annotate", '{"images":[{"content":"AA=="}],"max_results":@}', {}),
                ("/", "@", AWS),
                ("/", '{"Image":{"Bytes":@}}', AWS),
                ("/", '{"Image":{"Bytes":"' + red + '"},"MaxLabels":@}', AWS),
                ("/", '{"Image":{"Bytes":"' + red + '"},"Features":@}', AWS),
                ("/v2/models/colours/infer", "@", {}),
                (
                    "/v2/models/colours/infer",
                    '{"inputs":[{"name":"IMAGE","datatype":"BYTES","shape":[1],"data":@}]}',
                    {},
                ),
                (
                    "/v2/models/colours/infer",
                    '{"inputs":[{"name":"image","datatype":"FP32","shape":[1],"data":@}]}',
                    {},
                ),
                ("/v2/models/colours/infer", '{"id":@,"inputs":[]}', {}),
            ]
            cases = [(path, body.replace("@", nested), h) for path, body, h in templates]
            for path, body, headers in cases:
                answer = await http.post(path, content=body, headers=headers)
                assert 400 <= answer.status_code < 500, (path, body[:80], answer.text[:200])
                payload = answer.json()
                if path == "/":
                    assert "__type" in payload
                elif path.startswith("/v2"):
                    assert isinstance(payload["error"], str)
                else:
                    assert "message" in payload["error"]
            await still_serving(http)

    asyncio.run(go())


def test_open_inference_shapes_that_overflow_are_refused(state: ServerState) -> None:
    async def go() -> None:
        async with client(state) as http:
            for shape, data in [
                ([4294967296, 4294967296], []),
                ([0, 2**64], []),
                ([1] * 100, [0.0]),
                ([True, 3], [0.0, 0.0, 0.0]),
            ]:
                body = {"inputs": [{"name": "image", "shape": shape, "datatype": "FP32"}]}
                body["inputs"][0]["data"] = data
                answer = await http.post("/v2/models/colours/infer", json=body)
                assert answer.status_code == 400, (shape, answer.text)
                assert isinstance(answer.json()["error"], str)
            header = json.dumps(
                {
                    "inputs": [
                        {
                            "name": "image",
                            "shape": [4294967296, 4294967296],
                            "datatype": "FP32",
                            "parameters": {"binary_data_size": 0},
                        }
                    ]
                }
            ).encode()
            binary = await http.post(
                "/v2/models/colours/infer",
                content=header,
                headers={"Inference-Header-Content-Length": str(len(header))},
            )
            assert binary.status_code == 400 and "elements" in binary.json()["error"]
            await still_serving(http)

    asyncio.run(go())


def test_bad_multipart_bodies_are_native_400s(colour_model_path: Path, isolated_home: Path) -> None:
    state = make_state(colour_model_path, isolated_home)  # the default cap: 64 images

    async def go() -> None:
        async with client(state) as http:
            files = [("image", (f"{i}.jpg", RED, "image/jpeg")) for i in range(65)]
            many = await http.post("/v1/annotate", files=files)
            assert many.status_code == 400 and many.json()["error"]["code"] == "invalid_parameter"
            assert "64" in many.json()["error"]["message"]
            for content_type, body in [
                ("multipart/form-data; boundary=zzz", b"--x\r\nnot the boundary"),
                ("multipart/form-data", b"--x\r\nno boundary at all"),
            ]:
                bad = await http.post(
                    "/v1/annotate", content=body, headers={"content-type": content_type}
                )
                assert bad.status_code == 400, bad.text
                assert bad.json()["error"]["type"] == "InvalidParameterError"
            await still_serving(http)

    try:
        asyncio.run(go())
    finally:
        state.close()


def test_aws_values_of_the_wrong_shape_are_invalid_parameters(state: ServerState) -> None:
    image = b64(RED)

    async def go() -> None:
        async with client(state) as http:
            for extra in [
                {"Features": [["GENERAL_LABELS"]]},
                {"Settings": ["x"]},
                {"Settings": {"GeneralLabels": ["x"]}},
                {"Features": ["IMAGE_PROPERTIES"], "Settings": {"ImageProperties": [1]}},
            ]:
                answer = await http.post(
                    "/", json={"Image": {"Bytes": image}, **extra}, headers=AWS
                )
                assert answer.status_code == 400, (extra, answer.text)
                assert answer.json()["__type"] == "InvalidParameterException"
            text = {"X-Amz-Target": "RekognitionService.DetectText"}
            for filters in [["x"], {"WordFilter": [1]}]:
                answer = await http.post(
                    "/", json={"Image": {"Bytes": image}, "Filters": filters}, headers=text
                )
                assert answer.status_code in (400, 501), (filters, answer.text)  # 501: no OCR
            faces = {"X-Amz-Target": "RekognitionService.DetectFaces"}
            answer = await http.post(
                "/", json={"Image": {"Bytes": image}, "Attributes": [{"a": 1}]}, headers=faces
            )
            assert answer.status_code == 400, answer.text
            await still_serving(http)

    asyncio.run(go())


def test_a_request_is_decoded_and_run_a_batch_at_a_time(
    colour_model_path: Path, isolated_home: Path
) -> None:
    """Eight images with max_batch_size 2: the engine and the model never see more than two
    of them at once (they used to get all eight, decoded up front)."""
    state = make_state(colour_model_path, isolated_home, workers=1, max_batch_size=2)
    engine = GatedEngine(state.engine)
    engine.gate.set()
    state.engine = engine  # type: ignore[assignment]
    state.schedule()
    sizes: list[int] = []
    runtime = state.models["colours"].runtime
    real_run = runtime.run

    def spy(feeds: Any) -> Any:
        sizes.append(len(next(iter(feeds.values()))))
        return real_run(feeds)

    runtime.run = spy  # type: ignore[method-assign]
    calls: list[int] = []
    inner_annotate = engine.annotate

    def counting(requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        calls.append(len(requests))
        return inner_annotate(requests)

    engine.annotate = counting  # type: ignore[method-assign]
    state.schedule()
    colours = [solid_jpeg(c) for c in [(250, 0, 0), (0, 250, 0), (0, 0, 250), (128, 128, 128)]]

    async def go() -> None:
        async with client(state) as http:
            content, headers = oip_bytes(*colours, *colours)
            oip = await http.post("/v2/models/colours/infer", content=content, headers=headers)
            (logits,) = oip.json()["outputs"]
            assert logits["shape"] == [8, 4]
            rows = [logits["data"][i * 4 : i * 4 + 4] for i in range(8)]
            assert [row.index(max(row)) for row in rows] == [0, 1, 2, 3] * 2
            native = await http.post("/v1/annotate", json=native_body(*colours, *colours))
            labels = [r["labels"][0]["label"] for r in native.json()["results"]]
            assert labels == ["red", "green", "blue", "gray"] * 2  # in order, whatever the split

    try:
        asyncio.run(go())
    finally:
        runtime.run = real_run  # type: ignore[method-assign]
        state.close()
    assert sizes and max(sizes) <= 2  # the OIP images and the engine's, two by two
    assert calls and max(calls) <= 2 and sum(calls) == 8

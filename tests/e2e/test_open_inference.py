"""tritonclient.http against a real local server (Open Inference Protocol v2)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import numpy as np
import pytest

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is a dev extra")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture
def client(colour_server: LiveServer) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(
        colour_server.host_port,
        connection_timeout=CLIENT_TIMEOUT_S,
        network_timeout=CLIENT_TIMEOUT_S,
    )


def colour_batch() -> np.ndarray:
    batch = np.zeros((3, 3, 16, 16), np.float32)
    batch[0, 0] = 1.0  # red
    batch[1, 1] = 1.0  # green
    batch[2] = 0.5  # gray
    return batch


def test_health_and_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("colours")
    assert not client.is_model_ready("nope")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("colours")
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 16, 16]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 4]}]


@pytest.mark.parametrize("binary", [True, False])
def test_infer_with_binary_and_json_tensors(
    client: httpclient.InferenceServerClient, binary: bool
) -> None:
    tensor = httpclient.InferInput("image", [3, 3, 16, 16], "FP32")
    tensor.set_data_from_numpy(colour_batch(), binary_data=binary)
    outputs = [httpclient.InferRequestedOutput("logits", binary_data=binary)]
    result = client.infer("colours", [tensor], outputs=outputs, request_id="r1")
    logits = result.as_numpy("logits")
    assert logits.shape == (3, 4)
    assert logits.argmax(axis=1).tolist() == [0, 1, 3]
    assert result.get_response()["id"] == "r1"


def test_encoded_images_as_bytes_are_decoded_by_the_server(
    client: httpclient.InferenceServerClient,
) -> None:
    images = np.array([solid_jpeg((250, 0, 0)), solid_jpeg((0, 0, 250))], dtype=object)
    tensor = httpclient.InferInput("IMAGE", [2], "BYTES")
    tensor.set_data_from_numpy(images)
    logits = client.infer("colours", [tensor]).as_numpy("logits")
    assert logits.argmax(axis=1).tolist() == [0, 2]


def test_real_model_on_a_real_photo(mobilenet_server: LiveServer, photos_dir: Path) -> None:
    client = httpclient.InferenceServerClient(
        mobilenet_server.host_port,
        connection_timeout=CLIENT_TIMEOUT_S,
        network_timeout=CLIENT_TIMEOUT_S,
    )
    tensor = httpclient.InferInput("IMAGE", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([(photos_dir / "bird.bmp").read_bytes()], dtype=object))
    probabilities = client.infer("mobilenet-onnx", [tensor]).as_numpy("output")
    assert probabilities.shape == (1, 1000)
    labels = (
        (Path(photos_dir).parent / "models" / "imagenet_labels_1000.txt").read_text().splitlines()
    )
    assert labels[int(probabilities[0].argmax())] == "chickadee"
    meta = client.get_model_metadata("mobilenet")  # the quantized TFLite model
    assert meta["inputs"][0]["datatype"] == "UINT8" and meta["platform"] == "tensorflow_lite"


@pytest.mark.parametrize(
    ("name", "shape", "datatype", "message"),
    [
        ("image", [1, 3, 8, 8], "FP32", "has shape [-1, 3, 16, 16]"),
        ("image", [1, 3, 16, 16], "FP64", "takes FP32"),
        ("pixels", [1, 3, 16, 16], "FP32", "no input 'pixels'"),
    ],
)
def test_wrong_tensors_raise_with_the_servers_message(
    client: httpclient.InferenceServerClient,
    name: str,
    shape: list[int],
    datatype: str,
    message: str,
) -> None:
    tensor = httpclient.InferInput(name, shape, datatype)
    tensor.set_data_from_numpy(np.zeros(shape, np.float64 if datatype == "FP64" else np.float32))
    with pytest.raises(InferenceServerException, match=re.escape(message)) as info:
        client.infer("colours", [tensor])
    assert info.value.status() == "400"


def test_unknown_model_is_404(client: httpclient.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="not served") as info:
        client.get_model_metadata("nope")
    assert info.value.status() == "404"


def test_raw_json_with_base64_images_and_broken_bodies(colour_server: LiveServer) -> None:
    url = colour_server.url + "/v2/models/colours/infer"
    body = {
        "inputs": [
            {
                "name": "IMAGE",
                "shape": [1],
                "datatype": "BYTES",
                "data": [base64.b64encode(solid_jpeg((0, 240, 0))).decode()],
            }
        ]
    }
    response = httpx.post(url, json=body, timeout=CLIENT_TIMEOUT_S)
    assert response.status_code == 200
    (output,) = response.json()["outputs"]
    assert output["name"] == "logits" and int(np.argmax(output["data"])) == 1
    for bad in (
        b"{",
        b'{"inputs": 3}',
        b'{"inputs": [{"name": "image", "shape": [1], "datatype": "FP32"}]}',
    ):
        broken = httpx.post(url, content=bad, timeout=CLIENT_TIMEOUT_S)
        assert broken.status_code == 400 and "error" in broken.json()
    corrupt = dict(
        body, inputs=[dict(body["inputs"][0], data=[base64.b64encode(b"junk").decode()])]
    )
    assert httpx.post(url, json=corrupt, timeout=CLIENT_TIMEOUT_S).status_code == 400
    too_long = httpx.post(
        url,
        content=b'{"inputs": []}',
        headers={"Inference-Header-Content-Length": "999"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert (
        too_long.status_code == 400
        and "Inference-Header-Content-Length" in too_long.json()["error"]
    )

"""Objects through the official clients: Google OBJECT_LOCALIZATION and Rekognition Instances."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localvision.config import ModelConfig, Settings

from ..builders import constant_detector_onnx, yolov8_table
from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server

pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
vision = pytest.importorskip("google.cloud.vision", reason="google-cloud-vision is a dev extra")
boto3 = pytest.importorskip("boto3", reason="boto3 is a dev extra")
from botocore.config import Config  # noqa: E402


@pytest.fixture(scope="module")
def detector_server(
    colour_model_path: Path, isolated_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("detector") / "detector.onnx"
    constant_detector_onnx(path, {"output0": yolov8_table()})
    (path.parent / "detector.card.toml").write_text('labels = ["cat", "dog"]\n')
    settings = Settings(
        home=isolated_home,
        models={
            "colours": ModelConfig(path=str(colour_model_path)),
            "detector": ModelConfig(path=str(path)),
        },
    )
    with live_server(settings) as server:
        yield server


def test_google_object_localization(detector_server: LiveServer) -> None:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    client = vision.ImageAnnotatorClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=detector_server.url),
    )
    response = client.object_localization(
        image=vision.Image(content=solid_jpeg((90, 90, 90), size=(128, 64)))
    )
    found = [(o.name, round(o.score, 3)) for o in response.localized_object_annotations]
    assert found == [("cat", 0.9), ("dog", 0.7), ("cat", 0.6)]
    vertices = response.localized_object_annotations[0].bounding_poly.normalized_vertices
    assert [(round(v.x, 3), round(v.y, 3)) for v in vertices] == [
        (0.125, 0.25),
        (0.375, 0.25),
        (0.375, 0.75),
        (0.125, 0.75),
    ]


def test_rekognition_instances(detector_server: LiveServer) -> None:
    client = boto3.client(
        "rekognition",
        endpoint_url=detector_server.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(connect_timeout=CLIENT_TIMEOUT_S, read_timeout=CLIENT_TIMEOUT_S),
    )
    labels = client.detect_labels(
        Image={"Bytes": solid_jpeg((90, 90, 90), size=(128, 64))}, MinConfidence=50
    )["Labels"]
    cat = next(label for label in labels if label["Name"] == "cat")
    assert cat["Confidence"] == pytest.approx(90.0, abs=0.01)
    assert [i["Confidence"] for i in cat["Instances"]] == pytest.approx([90.0, 60.0], abs=0.01)
    assert cat["Instances"][0]["BoundingBox"] == pytest.approx(
        {"Width": 0.25, "Height": 0.5, "Left": 0.125, "Top": 0.25}
    )
    dog = next(label for label in labels if label["Name"] == "dog")
    assert len(dog["Instances"]) == 1
    # The colour classifier's labels are there too, without instances.
    assert any(label["Name"] == "gray" and not label["Instances"] for label in labels)

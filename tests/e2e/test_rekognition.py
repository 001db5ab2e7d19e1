"""boto3's Rekognition client against a real local server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from localvision.config import ModelConfig, ServerSettings, Settings

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server

boto3 = pytest.importorskip("boto3", reason="boto3 is a dev extra")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

NO_RETRIES = Config(
    retries={"max_attempts": 1, "mode": "standard"},
    connect_timeout=CLIENT_TIMEOUT_S,
    read_timeout=CLIENT_TIMEOUT_S,
)


def client_for(server: LiveServer, secret: str = "test-secret", **kwargs: object):  # type: ignore[no-untyped-def]
    return boto3.client(
        "rekognition",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key=secret,
        config=NO_RETRIES,
        **kwargs,
    )


def test_detect_labels_on_a_real_photo(mobilenet_server: LiveServer, photos_dir: Path) -> None:
    response = client_for(mobilenet_server).detect_labels(
        Image={"Bytes": (photos_dir / "cat_720p.jpg").read_bytes()}, MaxLabels=5
    )
    top = response["Labels"][0]
    assert top["Name"] == "Egyptian cat"
    assert 55 <= top["Confidence"] <= 100  # percent, above the default MinConfidence
    assert top["Instances"] == [] and top["Parents"] == []
    assert response["LabelModelVersion"] == "localvision:mobilenet"
    assert response["ResponseMetadata"]["RequestId"]


def test_max_labels_and_min_confidence(colour_server: LiveServer) -> None:
    client = client_for(colour_server)
    image = {"Bytes": solid_jpeg((200, 90, 90))}
    everything = client.detect_labels(Image=image, MinConfidence=0)["Labels"]
    assert len(everything) >= 2
    assert [
        lab["Name"]
        for lab in client.detect_labels(Image=image, MaxLabels=1, MinConfidence=0)["Labels"]
    ] == [everything[0]["Name"]]
    strict = client.detect_labels(Image=image, MinConfidence=everything[0]["Confidence"] + 0.001)
    assert strict["Labels"] == []


def test_label_filters(colour_server: LiveServer) -> None:
    client = client_for(colour_server)
    image = {"Bytes": solid_jpeg((200, 90, 90))}
    kept = client.detect_labels(
        Image=image, MinConfidence=0, Settings={"GeneralLabels": {"LabelExclusionFilters": ["red"]}}
    )["Labels"]
    assert "red" not in [lab["Name"] for lab in kept] and kept


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image", "kwargs", "error"),
    [
        ({"Bytes": gif_bytes()}, {}, "InvalidImageFormatException"),
        ({"Bytes": b"\xff\xd8\xff not a real jpeg"}, {}, "InvalidImageFormatException"),
        ({"Bytes": b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024)}, {}, "ImageTooLargeException"),
        ({"Bytes": solid_jpeg((1, 2, 3))}, {"MinConfidence": 101}, "InvalidParameterException"),
        ({"S3Object": {"Bucket": "bucket", "Name": "cat.jpg"}}, {}, "InvalidS3ObjectException"),
    ],
)
def test_bad_input_raises_the_modelled_exception(
    colour_server: LiveServer, image: dict, kwargs: dict, error: str
) -> None:
    client = client_for(colour_server)
    with pytest.raises(getattr(client.exceptions, error)) as info:
        client.detect_labels(Image=image, **kwargs)
    assert info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_endpoint_from_the_environment_needs_no_code_change(
    colour_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", colour_server.url)
    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=NO_RETRIES,
    )
    labels = client.detect_labels(Image={"Bytes": solid_jpeg((0, 0, 250))})["Labels"]
    assert labels[0]["Name"] == "blue"


def test_unknown_operations_and_bad_json(colour_server: LiveServer) -> None:
    response = httpx.post(
        colour_server.url + "/",
        content=b"{}",
        headers={
            "X-Amz-Target": "RekognitionService.CompareFaces",
            "Content-Type": "application/x-amz-json-1.1",
        },
        timeout=CLIENT_TIMEOUT_S,
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"
    assert response.headers["x-amzn-RequestId"]
    response = httpx.post(
        colour_server.url + "/",
        content=b"{oops",
        headers={"X-Amz-Target": "RekognitionService.DetectLabels"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert response.status_code == 400 and response.json()["__type"] == "InvalidParameterException"


@pytest.fixture(scope="module")
def signed_server(colour_model_path: Path, isolated_home: Path) -> Iterator[LiveServer]:
    settings = Settings(
        home=isolated_home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        server=ServerSettings(aws_credentials={"AKIDTEST": "test-secret"}),
    )
    with live_server(settings) as server:
        yield server


def test_sigv4_accepts_the_right_secret_and_refuses_others(signed_server: LiveServer) -> None:
    image = {"Bytes": solid_jpeg((250, 0, 0))}
    assert client_for(signed_server).detect_labels(Image=image)["Labels"][0]["Name"] == "red"
    with pytest.raises(ClientError) as info:
        client_for(signed_server, secret="wrong").detect_labels(Image=image)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    other = boto3.client(
        "rekognition",
        endpoint_url=signed_server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDOTHER",
        aws_secret_access_key="x",
        config=NO_RETRIES,
    )
    with pytest.raises(ClientError) as info:
        other.detect_labels(Image=image)
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    unsigned = httpx.post(
        signed_server.url + "/",
        content=b"{}",
        headers={"X-Amz-Target": "RekognitionService.DetectLabels"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert unsigned.status_code == 403
    assert unsigned.json()["__type"] == "MissingAuthenticationTokenException"


def test_image_properties_with_and_without_labels(colour_server: LiveServer) -> None:
    client = client_for(colour_server)
    image = {"Bytes": solid_jpeg((10, 10, 240))}
    response = client.detect_labels(Image=image, Features=["IMAGE_PROPERTIES"])
    assert response["Labels"] == []
    (colour,) = response["ImageProperties"]["DominantColors"]
    assert colour["Blue"] > 230 and colour["SimplifiedColor"] == "blue"
    assert colour["PixelPercent"] == 100.0 and len(colour["HexCode"]) == 6
    quality = response["ImageProperties"]["Quality"]
    assert set(quality) == {"Brightness", "Sharpness", "Contrast"}
    assert all(0 <= v <= 100 for v in quality.values())
    both = client.detect_labels(
        Image=image,
        Features=["GENERAL_LABELS", "IMAGE_PROPERTIES"],
        Settings={"ImageProperties": {"MaxDominantColors": 1}},
    )
    assert (
        both["Labels"][0]["Name"] == "blue" and len(both["ImageProperties"]["DominantColors"]) == 1
    )
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.detect_labels(
            Image=image,
            Features=["IMAGE_PROPERTIES"],
            Settings={"ImageProperties": {"MaxDominantColors": 21}},
        )


def test_detect_faces_on_a_real_photo(colour_server: LiveServer, photos_dir: Path) -> None:
    pytest.importorskip("cv2", reason="the faces extra (OpenCV) detects faces")
    client = client_for(colour_server)
    buffer = io.BytesIO()  # Rekognition takes JPEG and PNG only
    Image.open(photos_dir / "grace_hopper.bmp").save(buffer, "JPEG")
    (face,) = client.detect_faces(Image={"Bytes": buffer.getvalue()}, Attributes=["ALL"])[
        "FaceDetails"
    ]
    box = face["BoundingBox"]
    assert 0 < box["Left"] < 1 and 0 < box["Width"] < 1 and 50 < face["Confidence"] <= 100
    assert set(face["Quality"]) == {"Brightness", "Sharpness"}
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.detect_faces(Image={"Bytes": buffer.getvalue()}, Attributes=["TELEPATHY"])
    assert client.detect_faces(Image={"Bytes": solid_jpeg((9, 9, 9))})["FaceDetails"] == []


def test_detect_text_lines_and_words(colour_server: LiveServer) -> None:
    pytest.importorskip("rapidocr", reason="the ocr extra reads text")
    from PIL import ImageDraw, ImageFont

    image = Image.new("RGB", (640, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 30), "Hello localvision", fill="black", font=ImageFont.load_default(size=44))
    draw.text((20, 110), "Room 42", fill="black", font=ImageFont.load_default(size=44))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    client = client_for(colour_server)
    detections = client.detect_text(Image={"Bytes": buffer.getvalue()})["TextDetections"]
    lines = [d for d in detections if d["Type"] == "LINE"]
    words = [d for d in detections if d["Type"] == "WORD"]
    assert [line["DetectedText"] for line in lines] == ["Hello localvision", "Room 42"]
    assert [w["DetectedText"] for w in words] == ["Hello", "localvision", "Room", "42"]
    assert [w["ParentId"] for w in words] == [0, 0, 1, 1]
    assert [d["Id"] for d in detections] == list(range(6))
    assert all("ParentId" not in line for line in lines)
    box = words[0]["Geometry"]["BoundingBox"]
    assert (
        0 < box["Left"] < 0.2
        and 0 < box["Width"] < 0.5
        and len(words[0]["Geometry"]["Polygon"]) == 4
    )
    assert 50 < words[0]["Confidence"] <= 100
    filtered = client.detect_text(
        Image={"Bytes": buffer.getvalue()}, Filters={"WordFilter": {"MinBoundingBoxWidth": 0.2}}
    )["TextDetections"]
    assert [d["DetectedText"] for d in filtered if d["Type"] == "WORD"] == ["localvision"]

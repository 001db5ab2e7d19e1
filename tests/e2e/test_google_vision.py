"""The official google-cloud-vision client (REST transport) against a real local server."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import pytest

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer

vision = pytest.importorskip("google.cloud.vision", reason="google-cloud-vision is a dev extra")
from google.api_core import exceptions as google_exceptions  # noqa: E402
from google.api_core.client_options import ClientOptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402

LABELS = vision.Feature.Type.LABEL_DETECTION


def client_for(server: LiveServer, **options: object) -> vision.ImageAnnotatorClient:
    return vision.ImageAnnotatorClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=server.url, **options),
    )


def image_request(content: bytes, *types: int, max_results: int = 0) -> vision.AnnotateImageRequest:
    return vision.AnnotateImageRequest(
        image=vision.Image(content=content),
        features=[vision.Feature(type_=t, max_results=max_results) for t in types or (LABELS,)],
    )


def test_label_detection_on_a_real_photo(mobilenet_server: LiveServer, photos_dir: Path) -> None:
    client = client_for(mobilenet_server)
    response = client.label_detection(
        image=vision.Image(content=(photos_dir / "cat.bmp").read_bytes())
    )
    assert response.error.code == 0
    top = response.label_annotations[0]
    assert top.description == "Egyptian cat"
    assert top.score == pytest.approx(0.85, abs=0.05)
    assert top.topicality == top.score
    assert len(response.label_annotations) <= 10


def test_batch_with_a_corrupt_image_answers_the_others(colour_server: LiveServer) -> None:
    client = client_for(colour_server)
    batch = client.batch_annotate_images(
        requests=[
            image_request(solid_jpeg((240, 10, 10)), max_results=2),
            image_request(b"\xff\xd8\xff this is not really a jpeg"),
            image_request(solid_jpeg((10, 10, 240)), max_results=1),
        ]
    )
    first, bad, third = batch.responses
    assert [a.description for a in first.label_annotations] == ["red", "gray"]
    assert bad.error.code == 3 and bad.error.message.startswith("Bad image data.")
    assert not bad.label_annotations
    assert [a.description for a in third.label_annotations] == ["blue"]


def test_features_without_local_models_are_unimplemented_per_image(
    colour_server: LiveServer,
) -> None:
    client = client_for(colour_server)
    (response,) = client.batch_annotate_images(
        requests=[
            image_request(
                solid_jpeg((10, 200, 10)),
                LABELS,
                vision.Feature.Type.LANDMARK_DETECTION,
            )
        ]
    ).responses
    assert response.label_annotations[0].description == "green"  # still answered
    assert response.error.code == 12 and "LANDMARK_DETECTION" in response.error.message
    (text,) = client.batch_annotate_images(
        requests=[image_request(solid_jpeg((1, 2, 3)), vision.Feature.Type.OBJECT_LOCALIZATION)]
    ).responses
    assert text.error.code == 12 and "'objects'" in text.error.message


def test_more_than_sixteen_images_is_bad_request(colour_server: LiveServer) -> None:
    client = client_for(colour_server)
    with pytest.raises(google_exceptions.BadRequest, match="At most 16 images"):
        client.batch_annotate_images(requests=[image_request(solid_jpeg((1, 1, 1)))] * 17)


def test_api_key_is_accepted_when_none_is_required(colour_server: LiveServer) -> None:
    client = vision.ImageAnnotatorClient(
        transport="rest", client_options=ClientOptions(api_endpoint=colour_server.url, api_key="k")
    )
    response = client.label_detection(image=vision.Image(content=solid_jpeg((250, 0, 0))))
    assert response.label_annotations[0].description == "red"


def post(
    server: LiveServer, body: object | bytes, path: str = "/v1/images:annotate"
) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(
            server.url + path,
            content=body,
            headers={"content-type": "application/json"},
            timeout=CLIENT_TIMEOUT_S,
        )
    return httpx.post(server.url + path, json=body, timeout=CLIENT_TIMEOUT_S)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_hand_written_json_with_string_enums_and_project_paths(colour_server: LiveServer) -> None:
    body = {
        "requests": [
            {
                "image": {"content": b64(solid_jpeg((0, 0, 250)))},
                "features": [{"type": "LABEL_DETECTION", "maxResults": "1"}],
            }
        ],
        "parent": "projects/p/locations/eu",
    }
    for path in (
        "/v1/images:annotate?%24alt=json%3Benum-encoding%3Dint",
        "/v1/projects/p/images:annotate",
        "/v1/projects/p/locations/eu/images:annotate",
    ):
        response = post(colour_server, body, path)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "responses": [
                {
                    "labelAnnotations": [
                        {
                            "description": "blue",
                            "score": pytest.approx(1.0, abs=1e-3),
                            "topicality": pytest.approx(1.0, abs=1e-3),
                        }
                    ]
                }
            ]
        }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Invalid JSON payload"),
        ({"requests": []}, "No requests"),
        ({"requests": [{"image": {"content": "%%%"}}]}, "Base64 decoding failed"),
        ({"requests": [{"features": [{"type": "SMELL_DETECTION"}]}]}, "Feature.Type"),
        ({"requests": [{"features": [{"type": 99}]}]}, "Feature.Type"),
        ({"requests": [{"imag": {}}]}, "Unknown name 'imag'"),
        ({"requests": [{"features": [{"type": 4, "maxResults": "many"}]}]}, "maxResults"),
    ],
)
def test_invalid_requests_get_googles_error_model(
    colour_server: LiveServer, body: object, message: str
) -> None:
    response = post(colour_server, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"


def test_a_missing_image_is_a_per_image_error(colour_server: LiveServer) -> None:
    response = post(colour_server, {"requests": [{"features": [{"type": 4}]}]})
    assert response.status_code == 200
    assert response.json()["responses"][0]["error"]["code"] == 3


def test_unsupported_endpoints_answer_unimplemented(colour_server: LiveServer) -> None:
    response = post(colour_server, {"requests": []}, "/v1/files:annotate")
    assert response.status_code == 501 and response.json()["error"]["status"] == "UNIMPLEMENTED"


def test_the_server_keeps_serving_after_bad_input(colour_server: LiveServer) -> None:
    for junk in (b"\x00" * 100, b"[]", b'{"requests": 5}'):
        assert post(colour_server, junk).status_code == 400
    client = client_for(colour_server)
    assert (
        client.label_detection(image=vision.Image(content=solid_jpeg((250, 0, 0))))
        .label_annotations[0]
        .description
        == "red"
    )


# ------------------------------------------------------------------------------------ gRPC


@pytest.fixture(scope="module")
def grpc_server(colour_model_path: Path, isolated_home: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("grpc", reason="the grpc extra serves gRPC")
    import socket

    from localvision.config import ModelConfig, ServerSettings, Settings

    from ..servers import live_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        home=isolated_home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        server=ServerSettings(grpc_port=port),
    )
    with live_server(settings):
        yield f"127.0.0.1:{port}"


def grpc_client(target: str) -> vision.ImageAnnotatorClient:
    import grpc
    from google.cloud.vision_v1.services.image_annotator.transports import (
        ImageAnnotatorGrpcTransport,
    )

    return vision.ImageAnnotatorClient(
        transport=ImageAnnotatorGrpcTransport(channel=grpc.insecure_channel(target))
    )


def test_grpc_transport_answers_like_rest(grpc_server: str) -> None:
    client = grpc_client(grpc_server)
    response = client.label_detection(image=vision.Image(content=solid_jpeg((0, 0, 250))))
    assert response.label_annotations[0].description == "blue"
    batch = client.batch_annotate_images(
        requests=[
            image_request(solid_jpeg((250, 0, 0)), max_results=1),
            image_request(b"junk"),
            image_request(solid_jpeg((1, 1, 1)), vision.Feature.Type.LOGO_DETECTION),
        ]
    )
    assert [a.description for a in batch.responses[0].label_annotations] == ["red"]
    assert batch.responses[1].error.code == 3
    assert batch.responses[2].error.code == 12


def test_grpc_whole_request_errors_are_status_codes(grpc_server: str) -> None:
    client = grpc_client(grpc_server)
    with pytest.raises(google_exceptions.InvalidArgument, match="At most 16 images"):
        client.batch_annotate_images(requests=[image_request(solid_jpeg((1, 1, 1)))] * 17)


# ------------------------------------------------------------------ built-in features


def test_image_properties_and_crop_hints_need_no_model(colour_server: LiveServer) -> None:
    client = client_for(colour_server)
    (response,) = client.batch_annotate_images(
        requests=[
            vision.AnnotateImageRequest(
                image=vision.Image(content=solid_jpeg((250, 10, 10), size=(300, 100))),
                features=[
                    vision.Feature(type_=vision.Feature.Type.IMAGE_PROPERTIES),
                    vision.Feature(type_=vision.Feature.Type.CROP_HINTS),
                ],
                image_context=vision.ImageContext(
                    crop_hints_params=vision.CropHintsParams(aspect_ratios=[1.0, 2.0])
                ),
            )
        ]
    ).responses
    assert response.error.code == 0
    (color,) = response.image_properties_annotation.dominant_colors.colors
    assert color.color.red > 240 and color.color.green < 20 and color.pixel_fraction == 1.0
    square, wide = response.crop_hints_annotation.crop_hints
    xs = [v.x for v in square.bounding_poly.vertices]
    ys = [v.y for v in square.bounding_poly.vertices]
    assert (max(xs) - min(xs) + 1, max(ys) - min(ys) + 1) == (100, 100)
    xs = [v.x for v in wide.bounding_poly.vertices]
    assert max(xs) - min(xs) + 1 == 200
    assert 0 < square.importance_fraction <= 1


def test_seventeen_crop_aspect_ratios_are_invalid(colour_server: LiveServer) -> None:
    body = {
        "requests": [
            {
                "image": {"content": b64(solid_jpeg((1, 2, 3)))},
                "features": [{"type": "CROP_HINTS"}],
                "imageContext": {"cropHintsParams": {"aspectRatios": [1.0] * 17}},
            }
        ]
    }
    response = post(colour_server, body)
    assert response.status_code == 400 and "at most 16" in response.json()["error"]["message"]


def test_face_detection_on_a_real_photo(colour_server: LiveServer, photos_dir: Path) -> None:
    pytest.importorskip("cv2", reason="the faces extra (OpenCV) detects faces")
    client = client_for(colour_server)
    response = client.face_detection(
        image=vision.Image(content=(photos_dir / "face.jpg").read_bytes())
    )
    assert len(response.face_annotations) == 4
    best = response.face_annotations[0]
    assert len(best.bounding_poly.vertices) == 4 and 0.5 < best.detection_confidence <= 1
    assert best.joy_likelihood == vision.Likelihood.UNKNOWN  # not estimated, not invented
    assert not best.landmarks


def text_image() -> bytes:
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    image = PILImage.new("RGB", (700, 280), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    draw.text((30, 30), "Car Spa 0017", fill="black", font=font)
    draw.text((30, 80), "3690 Beltline Road", fill="black", font=font)
    draw.text((30, 210), "Open daily", fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_text_and_document_text_detection(colour_server: LiveServer) -> None:
    pytest.importorskip("rapidocr", reason="the ocr extra reads text")
    client = client_for(colour_server)
    response = client.text_detection(image=vision.Image(content=text_image()))
    whole, *words = response.text_annotations
    assert whole.description == "Car Spa 0017\n3690 Beltline Road\nOpen daily\n"
    assert [w.description for w in words] == [
        "Car",
        "Spa",
        "0017",
        "3690",
        "Beltline",
        "Road",
        "Open",
        "daily",
    ]
    assert len(words[0].bounding_poly.vertices) == 4
    page = response.full_text_annotation.pages[0]
    assert (page.width, page.height) == (700, 280)
    assert len(page.blocks) == 2  # two close lines, then one after a gap
    assert page.blocks[0].block_type == vision.Block.BlockType.TEXT
    first_word = page.blocks[0].paragraphs[0].words[0]
    assert "".join(s.text for s in first_word.symbols) == "Car"
    space = first_word.symbols[-1].property.detected_break.type_
    assert space == vision.TextAnnotation.DetectedBreak.BreakType.SPACE
    assert first_word.confidence == 0  # TEXT_DETECTION: no confidences unless asked
    document = client.document_text_detection(image=vision.Image(content=text_image()))
    assert document.full_text_annotation.text == whole.description
    assert 0.5 < document.full_text_annotation.pages[0].blocks[0].confidence <= 1


def test_enum_encoding_follows_the_alt_parameter(colour_server: LiveServer) -> None:
    pytest.importorskip("rapidocr", reason="the ocr extra reads text")
    body = {"requests": [{"image": {"content": b64(text_image())}, "features": [{"type": 5}]}]}
    names = post(colour_server, body).json()["responses"][0]["fullTextAnnotation"]
    numbers = post(colour_server, body, "/v1/images:annotate?%24alt=json%3Benum-encoding%3Dint")
    block = numbers.json()["responses"][0]["fullTextAnnotation"]["pages"][0]["blocks"][0]
    assert names["pages"][0]["blocks"][0]["blockType"] == "TEXT"
    assert block["blockType"] == 1
    symbols = block["paragraphs"][0]["words"][0]["symbols"]
    assert symbols[-1]["property"]["detectedBreak"]["type"] == 1

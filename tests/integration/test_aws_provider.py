"""The AWS Rekognition provider (boto3), pointed at localvision's own Rekognition-compatible
server with SigV4 checking on, so the provider's signing is exercised too."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from localvision.cloud.audit import AuditLog
from localvision.config import (
    AwsProviderSettings,
    CloudSettings,
    ModelConfig,
    ServerSettings,
    Settings,
)
from localvision.errors import (
    AuthenticationError,
    EgressDeniedError,
    ImageError,
    OverloadedError,
    ProviderError,
)
from localvision.types import AnnotateRequest, Feature, FeatureRequest
from localvision.wire.rekognition import error_from_aws

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server

pytest.importorskip("boto3", reason="the aws extra calls Rekognition through boto3")
from localvision.cloud.providers.aws import RekognitionProvider

KEY, SECRET = "AKIDPROVIDER", "provider-secret"


@pytest.fixture(scope="module")
def signed_server(colour_model_path: Path, isolated_home: Path) -> Iterator[LiveServer]:
    settings = Settings(
        home=isolated_home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        server=ServerSettings(aws_credentials={KEY: SECRET}),
    )
    with live_server(settings) as server:
        yield server


def allowed(home: Path, endpoint: str, secret: str = SECRET, retries: int = 0) -> Settings:
    return Settings(
        home=home,
        cloud=CloudSettings(
            egress="allow",
            aws=AwsProviderSettings(
                endpoint=endpoint,
                access_key_id=KEY,
                secret_access_key=secret,
                retries=retries,
                timeout_s=CLIENT_TIMEOUT_S,
            ),
        ),
    )


def test_egress_is_denied_by_default(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, cloud=CloudSettings(aws=AwsProviderSettings()))
    with pytest.raises(EgressDeniedError, match="egress is denied"):
        RekognitionProvider(settings)


def test_labels_and_colours_come_back_and_each_call_is_audited(
    signed_server: LiveServer, tmp_path: Path
) -> None:
    provider = RekognitionProvider(allowed(tmp_path, signed_server.url))
    red, bad = provider.annotate(
        [
            AnnotateRequest(
                solid_jpeg((250, 0, 0)),
                [FeatureRequest(Feature.LABELS, max_results=2), FeatureRequest(Feature.COLORS)],
                name="red",
            ),
            AnnotateRequest(b"not an image", [FeatureRequest(Feature.LABELS)], name="bad"),
        ]
    )
    provider.close()
    assert [label.name for label in red.labels or []][:1] == ["red"]
    assert red.labels is not None and len(red.labels) <= 2 and 0 < red.labels[0].score <= 1
    assert red.colors and red.colors[0].red > 200 and red.colors[0].green < 60
    assert red.quality is not None and red.error is None
    assert bad.error is not None and bad.labels is None  # refused before leaving the machine
    (record,) = AuditLog(tmp_path).entries()  # one call: labels and colours share DetectLabels
    assert record.provider == "aws" and record.endpoint.endswith("DetectLabels")
    assert record.features == ["colors", "labels"] and record.outcome == "ok"
    assert record.images == 1 and record.bytes_sent > 0 and len(record.sha256) == 1


def test_text_and_faces_use_their_own_calls(
    signed_server: LiveServer, photos_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("cv2", reason="the faces extra (OpenCV) detects faces")
    pytest.importorskip("rapidocr", reason="the ocr extra reads text")
    page = Image.new("RGB", (640, 200), "white")
    draw = ImageDraw.Draw(page)
    draw.text((20, 30), "Hello localvision", fill="black", font=ImageFont.load_default(size=44))
    draw.text((20, 110), "Room 42", fill="black", font=ImageFont.load_default(size=44))
    buffer = io.BytesIO()
    page.save(buffer, "PNG")
    provider = RekognitionProvider(allowed(tmp_path, signed_server.url))
    text, faces = provider.annotate(
        [
            AnnotateRequest(buffer.getvalue(), [FeatureRequest(Feature.TEXT)]),
            AnnotateRequest(
                (photos_dir / "grace_hopper.bmp").read_bytes(), [FeatureRequest(Feature.FACES)]
            ),
        ]
    )
    provider.close()
    assert text.error is None and [line.text for line in text.text or []] == [
        "Hello localvision",
        "Room 42",
    ]
    assert [word.text for word in text.text[1].words] == ["Room", "42"]  # type: ignore[index]
    assert faces.error is None and faces.faces is not None and len(faces.faces) == 1
    face = faces.faces[0]
    assert 0 < face.left < face.right <= faces.width and 0.5 < face.confidence <= 1  # type: ignore[operator]
    calls = [r.endpoint.split()[-1] for r in AuditLog(tmp_path).entries()]
    assert calls == ["DetectText", "DetectFaces"]


def test_a_wrong_secret_is_an_authentication_error_and_is_audited(
    signed_server: LiveServer, tmp_path: Path
) -> None:
    provider = RekognitionProvider(allowed(tmp_path, signed_server.url, secret="wrong"))
    (result,) = provider.annotate(
        [AnnotateRequest(solid_jpeg((0, 0, 250)), [FeatureRequest(Feature.LABELS)])]
    )
    provider.close()
    assert isinstance(result.error, AuthenticationError)
    assert "InvalidSignatureException" in result.error.message
    (record,) = AuditLog(tmp_path).entries()  # the bytes left even though the call failed
    assert record.outcome == "AuthenticationError"


def test_an_unreachable_endpoint_is_a_provider_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = RekognitionProvider(allowed(tmp_path, f"http://127.0.0.1:{port}"))
    (result,) = provider.annotate(
        [AnnotateRequest(solid_jpeg((0, 250, 0)), [FeatureRequest(Feature.LABELS)])]
    )
    provider.close()
    assert isinstance(result.error, ProviderError) and "DetectLabels" in result.error.message
    assert [r.outcome for r in AuditLog(tmp_path).entries()] == ["ProviderError"]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("InvalidImageFormatException", ImageError),
        ("ThrottlingException", OverloadedError),
        ("AccessDeniedException", AuthenticationError),
        ("SomethingNewException", ProviderError),
    ],
)
def test_aws_error_codes_map_to_our_errors(code: str, kind: type[Exception]) -> None:
    error = error_from_aws(code, "the vendor's words")
    assert type(error) is kind and error.message == f"AWS Rekognition {code}: the vendor's words"

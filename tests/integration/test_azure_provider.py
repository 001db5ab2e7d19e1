"""The Azure AI Vision provider against a canned server on 127.0.0.1 that follows Image
Analysis 4.0's documented JSON (no localvision server speaks Azure's API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localvision.cloud.audit import AuditLog
from localvision.config import AzureProviderSettings, CloudSettings, Settings
from localvision.errors import (
    AuthenticationError,
    EgressDeniedError,
    FeatureNotAvailableError,
    ImageError,
    ProviderError,
)
from localvision.types import AnnotateRequest, Feature, FeatureRequest

from ..azure_stand_in import KEY, Canned, azure_stand_in
from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S

pytest.importorskip("httpx", reason="the cloud extra calls providers")
from localvision.cloud.providers.azure import AzureVisionProvider


@pytest.fixture
def azure() -> Iterator[str]:
    with azure_stand_in() as url:
        yield url


def provider(home: Path, endpoint: str, key: str = KEY) -> AzureVisionProvider:
    config = AzureProviderSettings(
        endpoint=endpoint, key=key, retries=1, timeout_s=CLIENT_TIMEOUT_S
    )
    return AzureVisionProvider(
        Settings(home=home, cloud=CloudSettings(egress="allow", azure=config))
    )


def test_egress_is_denied_by_default(tmp_path: Path) -> None:
    config = AzureProviderSettings(endpoint="https://example.invalid", key="k")
    with pytest.raises(EgressDeniedError):
        AzureVisionProvider(Settings(home=tmp_path, cloud=CloudSettings(azure=config)))


def test_one_call_per_image_with_every_feature(azure: str, tmp_path: Path) -> None:
    client = provider(tmp_path, azure)
    asked = [Feature.LABELS, Feature.OBJECTS, Feature.TEXT]
    (result,) = client.annotate(
        [AnnotateRequest(solid_jpeg((250, 0, 0)), [FeatureRequest(f) for f in asked])]
    )
    client.close()
    assert result.error is None
    assert [(label.name, label.score) for label in result.labels or []] == [
        ("outdoor", 0.98),
        ("red", 0.7),
    ]
    (ball,) = result.objects or []
    assert (ball.name, ball.left, ball.top, ball.right, ball.bottom) == ("ball", 4, 6, 24, 16)
    (line,) = result.text or []
    assert line.text == "Hello world" and [w.text for w in line.words] == ["Hello", "world"]
    assert line.confidence == 0.95 and line.box[2] == (30.0, 12.0)
    (call,) = Canned.seen
    assert call["path"] == "/computervision/imageanalysis:analyze" and call["key"] == KEY
    assert call["query"] == {"api-version": "2023-10-01", "features": "tags,objects,read"}
    (record,) = AuditLog(tmp_path).entries()
    assert record.provider == "azure" and record.outcome == "ok" and record.bytes_sent > 0


def test_features_azure_lacks_never_leave(azure: str, tmp_path: Path) -> None:
    client = provider(tmp_path, azure)
    (result,) = client.annotate(
        [AnnotateRequest(solid_jpeg((0, 0, 250)), [FeatureRequest(Feature.FACES)])]
    )
    client.close()
    assert isinstance(result.error, FeatureNotAvailableError) and Canned.seen == []
    assert AuditLog(tmp_path).entries() == []


@pytest.mark.parametrize(
    ("script", "kind", "words"),
    [
        (
            [(400, {"error": {"code": "InvalidRequest", "message": "Bad image.",
                              "innererror": {"code": "InvalidImageFormat",
                                             "message": "Input data is not a valid image."}}})],
            ImageError,
            "InvalidImageFormat: Input data is not a valid image.",
        ),
        ([(200, b"<html>maintenance</html>")], ProviderError, "not a JSON object"),
        ([(500, {"error": {"code": "InternalServerError", "message": "oops"}})] * 2,
         ProviderError, "InternalServerError: oops"),
    ],
)  # fmt: skip
def test_vendor_errors_keep_their_words(
    azure: str, tmp_path: Path, script: list[tuple[int, Any]], kind: type, words: str
) -> None:
    Canned.script = list(script)
    client = provider(tmp_path, azure)
    (result,) = client.annotate(
        [AnnotateRequest(solid_jpeg((1, 2, 3)), [FeatureRequest(Feature.LABELS)])]
    )
    client.close()
    assert type(result.error) is kind and words in result.error.message  # type: ignore[union-attr]
    assert [r.outcome for r in AuditLog(tmp_path).entries()] == [kind.__name__]


def test_throttling_is_retried_and_a_wrong_key_is_not(azure: str, tmp_path: Path) -> None:
    Canned.script = [(429, {"error": {"code": "429", "message": "Rate limit exceeded."}})]
    client = provider(tmp_path, azure)
    (result,) = client.annotate(
        [AnnotateRequest(solid_jpeg((9, 9, 9)), [FeatureRequest(Feature.LABELS)])]
    )
    client.close()
    assert result.error is None and result.labels and len(Canned.seen) == 2
    Canned.seen.clear()
    wrong = provider(tmp_path, azure, key="nope")
    (denied,) = wrong.annotate(
        [AnnotateRequest(solid_jpeg((9, 9, 9)), [FeatureRequest(Feature.LABELS)])]
    )
    wrong.close()
    assert isinstance(denied.error, AuthenticationError) and len(Canned.seen) == 1
    assert "invalid subscription key" in denied.error.message

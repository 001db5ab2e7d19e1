from __future__ import annotations

import pytest

from localvision.errors import ImageDecodeError
from localvision.types import AnnotateResult, Feature, Label


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        ("labels", Feature.LABELS),
        ("LABELS", Feature.LABELS),
        ("crop", Feature.CROP_HINTS),
        ("colours", Feature.COLORS),
        ("document-text", Feature.DOCUMENT_TEXT),
        ("ocr", Feature.TEXT),
    ],
)
def test_feature_parse_accepts_names_and_aliases(text: str, feature: Feature) -> None:
    assert Feature.parse(text) is feature


def test_feature_parse_lists_valid_names_for_unknown() -> None:
    with pytest.raises(ValueError, match="Valid features are: labels, text"):
        Feature.parse("sentiment")


def test_result_to_dict_has_labels_and_error() -> None:
    result = AnnotateResult(
        name="a.jpg",
        width=10,
        height=5,
        labels=[Label("cat", 0.91234567, index=3)],
        error=ImageDecodeError("bad", hint="fix"),
    )
    assert result.to_dict() == {
        "image": "a.jpg",
        "width": 10,
        "height": 5,
        "labels": [{"label": "cat", "score": 0.912346, "index": 3}],
        "error": {
            "type": "ImageDecodeError",
            "code": "image_decode_failed",
            "message": "bad",
            "hint": "fix",
        },
    }
    assert not result.ok


def test_result_without_features_omits_them() -> None:
    assert AnnotateResult(name="x").to_dict() == {"image": "x"}

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from localvision.errors import InvalidParameterError
from localvision.tasks.crop_hints import best_crop, check_aspect_ratios, importance_map


def image_with_detail(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    image = Image.new("RGB", size, (120, 130, 140))
    rng = np.random.default_rng(0)
    w, h = box[2] - box[0], box[3] - box[1]
    image.paste(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)), box[:2])
    return image


def test_the_square_crop_keeps_the_detailed_region() -> None:
    image = image_with_detail((800, 300), (600, 100, 700, 200))
    hint = best_crop(importance_map(image), image.size, 1.0)
    assert (hint.right - hint.left + 1, hint.bottom - hint.top + 1) == (300, 300)
    assert hint.left <= 600 and hint.right >= 699
    assert hint.importance_fraction > 0.8
    assert hint.confidence == hint.importance_fraction


def test_a_flat_image_gets_a_centred_crop() -> None:
    image = Image.new("RGB", (400, 200), "white")
    hint = best_crop(importance_map(image), image.size, 1.0)
    assert (hint.left, hint.top, hint.right, hint.bottom) == (100, 0, 299, 199)
    assert hint.importance_fraction == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("ratio", [0.5, 1.0, 1.77, 4.0])
def test_crops_have_the_asked_shape_and_stay_inside(ratio: float) -> None:
    image = image_with_detail((640, 480), (10, 10, 100, 100))
    hint = best_crop(importance_map(image), image.size, ratio)
    width, height = hint.right - hint.left + 1, hint.bottom - hint.top + 1
    assert 0 <= hint.left <= hint.right < 640 and 0 <= hint.top <= hint.bottom < 480
    assert width == 640 or height == 480  # as large as the shape allows
    assert math.isclose(width / height, ratio, rel_tol=0.02)
    assert hint.aspect_ratio == ratio


def test_the_images_own_shape_keeps_everything() -> None:
    image = image_with_detail((300, 200), (0, 0, 30, 30))
    hint = best_crop(importance_map(image), image.size, 1.5)
    assert (hint.left, hint.top, hint.right, hint.bottom) == (0, 0, 299, 199)
    assert hint.importance_fraction == pytest.approx(1.0)


@pytest.mark.parametrize("size", [(1, 1), (1000, 3), (3, 1000)])
def test_tiny_and_extreme_images(size: tuple[int, int]) -> None:
    image = Image.new("RGB", size, "black")
    hint = best_crop(importance_map(image), size, 1.0)
    assert 0 <= hint.left <= hint.right < size[0] and 0 <= hint.top <= hint.bottom < size[1]


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ([1.0] * 17, "At most 16"),
        ([0.0], "between 0.1 and 10"),
        ([11], "between 0.1 and 10"),
        ([float("nan")], "numbers"),
        (["wide"], "numbers"),
    ],
)
def test_aspect_ratio_validation(ratios: list[object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        check_aspect_ratios(ratios)  # type: ignore[arg-type]
    assert check_aspect_ratios([1, 1.77]) == (1.0, 1.77)


class FixedFaces:
    """A face detector that always finds one face at a known place (passed in, not patched)."""

    min_side = 256

    def detect(self, image: object) -> list[object]:
        from localvision.types import Face

        return [Face(left=700, top=20, right=780, bottom=100, confidence=0.9)]


def test_faces_outweigh_detail_in_crops() -> None:
    from localvision.tasks.crop_hints import CropHintsTask
    from localvision.types import AnnotateResult, DecodedImage, Feature, FeatureRequest

    image = image_with_detail((800, 300), (20, 100, 120, 200))  # detail on the left
    decoded = DecodedImage(image, 800, 300)
    plain, faced = CropHintsTask(), CropHintsTask(faces=FixedFaces())
    request = FeatureRequest(Feature.CROP_HINTS)
    without, with_face = AnnotateResult(), AnnotateResult()
    plain.post_process(plain.pre_process(decoded), (800, 300), request, without)
    faced.post_process(faced.pre_process(decoded), (800, 300), request, with_face)
    assert without.crop_hints[0].left <= 20  # type: ignore[index]
    hint = with_face.crop_hints[0]  # type: ignore[index]
    assert hint.left <= 700 and hint.right >= 779  # the face is kept

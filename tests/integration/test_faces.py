"""Faces on the fixture photos: counts, boxes inside the image, nothing on animals."""

from __future__ import annotations

from pathlib import Path

import pytest

from localvision.engine import LocalEngine
from localvision.types import AnnotateRequest, Feature, FeatureRequest

from ..conftest import solid_jpeg

pytest.importorskip("cv2", reason="the faces extra (OpenCV) detects faces")

FACES = [FeatureRequest(Feature.FACES)]
# face.jpg shows two people in front and two more, smaller, behind them.
EXPECTED = {
    "face.jpg": 4,
    "grace_hopper.bmp": 1,
    "squat.bmp": 1,
    "pets.jpg": 0,
    "cat.bmp": 0,
    "cat_test_0.bmp": 0,
    "missvickie_potato_chips.bmp": 0,
    "dog_test_0.bmp": 0,
}


@pytest.fixture(scope="module")
def engine() -> LocalEngine:
    return LocalEngine({})


def test_face_counts_on_the_fixture_photos(engine: LocalEngine, photos_dir: Path) -> None:
    results = engine.annotate([AnnotateRequest(photos_dir / name, FACES) for name in EXPECTED])
    assert {r.name.split("/")[-1]: len(r.faces or []) for r in results} == EXPECTED  # type: ignore[union-attr]
    for result in results:
        for face in result.faces or []:
            assert 0 <= face.left < face.right <= result.width  # type: ignore[operator]
            assert 0 <= face.top < face.bottom <= result.height  # type: ignore[operator]
            assert 0 < face.confidence <= 1
            assert face.landmarks == () and face.roll is None  # not estimated: not reported


def test_the_portrait_face_is_where_it_should_be(engine: LocalEngine, photos_dir: Path) -> None:
    (result,) = engine.annotate([AnnotateRequest(photos_dir / "grace_hopper.bmp", FACES)])
    (face,) = result.faces or []
    centre = ((face.left + face.right) / 2, (face.top + face.bottom) / 2)
    assert 200 < centre[0] < 330 and 150 < centre[1] < 280  # her face, upper middle
    assert face.brightness is not None and face.sharpness is not None


@pytest.mark.parametrize("size", [(1, 1), (2000, 20), (20, 2000)])
def test_no_faces_in_flat_tiny_or_extreme_images(
    engine: LocalEngine, size: tuple[int, int]
) -> None:
    (result,) = engine.annotate([AnnotateRequest(solid_jpeg((200, 180, 160), size=size), FACES)])
    assert result.error is None and result.faces == []

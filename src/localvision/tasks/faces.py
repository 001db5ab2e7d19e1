"""Face detection with OpenCV's Haar cascades (the ``faces`` extra), no model file to manage.

Three passes over the grey, histogram-equalised image (at most 800 px across, scale step 1.15):
the frontal cascade (8 neighbours, which on the fixture photos removed the false hits on a
cat's face and a crisp packet and kept every real face), the profile cascade, and the profile
cascade on the mirrored image (it only knows faces turned one way). Overlapping hits of the
passes are merged (IoU > 0.3, the strongest kept). Why Haar cascades, and how they did on the
fixture photos, is in ``docs/features.md``.

What this detector estimates is a box and a score. ``confidence`` maps the cascade's final-
stage score through a logistic curve to 0..1: it orders faces, it is not a calibrated
probability. No landmarks, angles or expression likelihoods are estimated, so none are reported
(never invented). Each face's brightness and sharpness are measured on its own crop.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..optional import import_optional
from ..types import AnnotateResult, DecodedImage, Face, Feature, FeatureRequest
from .colors import image_quality
from .nms import non_max_suppression

__all__ = ["DEFAULT_MAX_FACES", "FacesTask", "faces_available"]

DEFAULT_MAX_FACES = 100
_DETECT_SIDE = 800
_MIN_FACE = 24
_MERGE_IOU = 0.3
# Logistic map of cascade scores to 0..1: (midpoint, spread) per cascade.
_SCORE_SCALE = {"frontal": (2.0, 1.5), "profile": (2.0, 1.5)}


def faces_available() -> bool:
    """True when OpenCV (``pip install 'localvision[faces]'``) is installed."""
    import importlib.util

    return importlib.util.find_spec("cv2") is not None


class FacesTask:
    """Faces from OpenCV's frontal and profile Haar cascades."""

    feature = Feature.FACES
    runs_batches = False

    def __init__(self) -> None:
        self._cv2 = import_optional("cv2", extra="faces", purpose="detect faces")
        # A CascadeClassifier must not be used by two threads at once: one pair per thread.
        self._local = threading.local()

    def _cascades(self) -> tuple[Any, Any]:
        pair: tuple[Any, Any] | None = getattr(self._local, "cascades", None)
        if pair is None:
            folder = self._cv2.data.haarcascades
            pair = (
                self._cv2.CascadeClassifier(folder + "haarcascade_frontalface_default.xml"),
                self._cv2.CascadeClassifier(folder + "haarcascade_profileface.xml"),
            )
            self._local.cascades = pair
        return pair

    @property
    def min_side(self) -> int | None:
        return _DETECT_SIDE

    def pre_process(self, image: DecodedImage) -> tuple[list[Face], DecodedImage]:
        # Detection runs here, on the decoding threads: it is per image and releases the GIL.
        return self.detect(image), image

    def forward(self, items: Sequence[Any]) -> list[Any]:
        return list(items)

    def post_process(
        self, raw: Any, image_size: tuple[int, int], request: FeatureRequest, result: AnnotateResult
    ) -> None:
        faces, _ = raw
        minimum = request.min_score or 0.0
        result.faces = [f for f in faces if f.confidence >= minimum][
            : request.max_results or DEFAULT_MAX_FACES
        ]

    def detect(self, image: DecodedImage) -> list[Face]:
        """Faces in ``image``, boxes in pixels of the original, most confident first."""
        cv2 = self._cv2
        small = image.pixels.convert("L")
        small.thumbnail((_DETECT_SIDE, _DETECT_SIDE), Image.Resampling.BOX)
        gray = cv2.equalizeHist(np.asarray(small))
        found: list[tuple[float, float, float, float, float]] = []
        frontal, profile = self._cascades()
        for cascade, kind, mirrored, neighbours in (
            (frontal, "frontal", False, 8),
            (profile, "profile", False, 5),
            (profile, "profile", True, 5),
        ):
            pixels = cv2.flip(gray, 1) if mirrored else gray
            boxes, _, weights = cascade.detectMultiScale3(
                pixels,
                scaleFactor=1.15,
                minNeighbors=neighbours,
                minSize=(_MIN_FACE, _MIN_FACE),
                outputRejectLevels=True,
            )
            for (x, y, w, h), weight in zip(boxes, np.ravel(weights), strict=False):
                left = gray.shape[1] - x - w if mirrored else x
                found.append((float(left), float(y), float(w), float(h), _score(kind, weight)))
        scale = image.width / small.width
        faces = []
        for x, y, w, h, score in _merge(found):
            face_box = (x * scale, y * scale, (x + w) * scale, (y + h) * scale)
            quality = _crop_quality(image, face_box)
            faces.append(
                Face(
                    left=face_box[0],
                    top=face_box[1],
                    right=face_box[2],
                    bottom=face_box[3],
                    confidence=score,
                    brightness=quality[0],
                    sharpness=quality[1],
                )
            )
        faces.sort(key=lambda f: -f.confidence)
        return faces


def _score(kind: str, weight: float) -> float:
    midpoint, spread = _SCORE_SCALE[kind]
    return 1.0 / (1.0 + math.exp(-(float(weight) - midpoint) / spread))


def _merge(
    found: list[tuple[float, float, float, float, float]],
) -> list[tuple[float, float, float, float, float]]:
    """Keep the strongest of ``(x, y, w, h, score)`` hits that overlap by IoU > 0.3.

    The passes disagree on kind (frontal, profile), not on what a face is, so every hit
    competes with every other (no classes). Cascade boxes are whole pixels, so the corners
    ``x + w`` are exact and the IoU is the one the widths give.
    """
    if not found:
        return []
    table = np.array(found, dtype=np.float64)
    x, y, w, h, scores = table.T
    boxes = np.stack([x, y, x + w, y + h], axis=1)
    kept = non_max_suppression(boxes, scores, classes=None, iou_threshold=_MERGE_IOU)
    return [found[i] for i in kept]


def _crop_quality(
    image: DecodedImage, box: tuple[float, float, float, float]
) -> tuple[float, float]:
    scale = image.scale
    crop = image.pixels.crop(tuple(round(v * scale) for v in box))  # type: ignore[arg-type]
    quality = image_quality(crop)
    return quality.brightness, quality.sharpness

"""Text (OCR): PP-OCR detection and recognition through RapidOCR (the ``ocr`` extra).

The models are the PP-OCR ONNX files inside the ``rapidocr`` wheel, so nothing is downloaded at
run time; RapidOCR runs them on ONNX Runtime and does the detection post-processing (DB
contours, box expansion) and the CTC decoding. Why the library is used as it is, rather than
its model files through localvision's own runtime, is measured and argued in
``docs/features.md``.

Images are handed over as decoded arrays, never as paths or URLs (RapidOCR would fetch URLs
itself). Lines come back in reading order with their words; boxes are quadrilaterals in pixels
of the original image.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InferenceError
from ..optional import import_optional
from ..types import AnnotateResult, DecodedImage, Feature, FeatureRequest, Quad, TextLine, TextWord

__all__ = ["TextTask", "text_available"]

_MAX_SIDE = 2000  # RapidOCR's own detection limit; decoding needs no more pixels than this


def text_available() -> bool:
    """True when RapidOCR (``pip install 'localvision[ocr]'``) is installed."""
    import importlib.util

    return importlib.util.find_spec("rapidocr") is not None


class TextTask:
    """Lines and words of text, for ``text`` and ``document_text`` alike."""

    runs_batches = False  # one image at a time with every core (see forward)

    def __init__(self, feature: Feature = Feature.TEXT) -> None:
        self.feature = feature
        self._engine: Any = None
        self._lock = threading.Lock()

    @property
    def min_side(self) -> int | None:
        return _MAX_SIDE * 3 // 4

    def pre_process(self, image: DecodedImage) -> DecodedImage:
        return image

    def forward(self, items: Sequence[DecodedImage]) -> list[list[TextLine]]:
        # OCR runs one image at a time with every core; the lock keeps concurrent engine
        # calls from oversubscribing them (and RapidOCR's pipeline is not documented as
        # thread-safe).
        with self._lock:
            engine = self._rapidocr()
            return [self._read(engine, image) for image in items]

    def post_process(
        self,
        raw: list[TextLine],
        image_size: tuple[int, int],
        request: FeatureRequest,
        result: AnnotateResult,
    ) -> None:
        minimum = request.min_score or 0.0
        result.text = [line for line in raw if line.confidence >= minimum]

    def _rapidocr(self) -> Any:
        if self._engine is None:
            module = import_optional("rapidocr", extra="ocr", purpose="read text (OCR)")
            self._engine = module.RapidOCR(params={"Global.log_level": "error"})
        return self._engine

    def _read(self, engine: Any, image: DecodedImage) -> list[TextLine]:
        try:
            output = engine(image.pixels, return_word_box=True)
        except Exception as exc:  # RapidOCR raises plain exceptions; name the image
            raise InferenceError(f"OCR failed on {image.name}: {exc}.") from exc
        if output.boxes is None or output.txts is None:
            return []
        scale = image.width / image.pixels.width if image.pixels.width else 1.0
        words_per_line = output.word_results or [()] * len(output.txts)
        lines = []
        for box, text, score, words in zip(
            output.boxes, output.txts, output.scores, words_per_line, strict=False
        ):
            parsed = tuple(
                TextWord(text=str(w[0]), confidence=float(w[1]), box=_quad(w[2], scale))
                for w in words or ()
                if str(w[0]).strip()
            )
            lines.append(
                TextLine(
                    text=str(text), confidence=float(score), box=_quad(box, scale), words=parsed
                )
            )
        return lines


def _quad(points: Any, scale: float) -> Quad:
    array = np.asarray(points, dtype=np.float64).reshape(4, 2) * scale
    (a, b), (c, d), (e, f), (g, h) = array.tolist()
    return ((a, b), (c, d), (e, f), (g, h))

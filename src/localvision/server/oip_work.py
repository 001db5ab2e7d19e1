"""Open Inference work as batcher calls: encoded images a batch at a time, tensors whole.

An infer request whose one input is ``BYTES`` holds encoded images. Each image is one item of
its call, so requests to the same model merge and split like the engine's, and an image is
decoded (on a worker thread) only when its batch is about to run: a request never holds all of
its images decoded at once, and images of a request that timed out or whose client went away
are never decoded at all. One bad image is that image's error; the handler answers the request
with it, and other requests in the same batch are not touched.

Raw tensors are already the model's input: they run as they came, one unsplittable call charged
by its batch axis.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ImageDecodeError, InferenceError, InvalidParameterError, LocalVisionError
from ..imaging.decode import ImageLimits, decode_image
from ..models.model import Model
from ..models.preprocess import min_side_needed, to_tensor
from ..wire import codec

__all__ = ["EncodedImage", "ImageRun", "Rows", "TensorRun", "stack_rows"]

Array = np.ndarray[Any, Any]
Rows = list[Array]
"""One image's row of each of the model's outputs, in output order."""


@dataclass(frozen=True, slots=True)
class EncodedImage:
    """Element ``index`` of ``BYTES`` input ``input``: the encoded image, base64 text when it
    came in JSON."""

    data: bytes
    input: str
    index: int
    base64: bool = False

    @property
    def name(self) -> str:
        """``IMAGE[3]``, for messages and decoding errors."""
        return f"{self.input}[{self.index}]"


class ImageRun:
    """Decodes, pre-processes and runs encoded images through one model, a chunk at a time.

    Called by the batcher on a worker thread with the merged images of one or more requests;
    answers each image with its rows or its own error.
    """

    def __init__(self, model: Model, limits: ImageLimits, batch_size: int) -> None:
        self.model = model
        self.limits = limits
        self.step = model.max_batch or max(1, batch_size)

    def __call__(self, images: Sequence[EncodedImage]) -> list[Rows | LocalVisionError]:
        out: list[Rows | LocalVisionError] = []
        for start in range(0, len(images), self.step):
            out.extend(self._chunk(images[start : start + self.step]))
        return out

    def _chunk(self, images: Sequence[EncodedImage]) -> list[Rows | LocalVisionError]:
        answers: list[Rows | LocalVisionError | None] = []
        tensors: list[Array] = []
        slots: list[int] = []
        for image in images:
            try:
                tensors.append(self._tensor(image))
                slots.append(len(answers))
                answers.append(None)
            except LocalVisionError as exc:
                answers.append(exc)
            except Exception as exc:  # a decoder's own failure concerns this image alone
                answers.append(ImageDecodeError(f"Image {image.name} cannot be decoded: {exc}."))
        if tensors:
            try:
                for slot, rows in zip(slots, self._run(tensors), strict=True):
                    answers[slot] = rows
            except LocalVisionError as exc:
                for slot in slots:
                    answers[slot] = exc
        return [a if a is not None else InferenceError("No output.") for a in answers]

    def _tensor(self, image: EncodedImage) -> Array:
        data = _from_base64(image) if image.base64 else image.data
        decoded = decode_image(
            data, limits=self.limits, min_side=min_side_needed(self.model.card), name=image.name
        )
        return to_tensor(decoded, self.model.card, self.model.input, self.model.channels)

    def _run(self, tensors: list[Array]) -> list[Rows]:
        batch = np.stack(tensors)
        fixed = self.model.max_batch
        if fixed and len(tensors) < fixed:  # a fixed batch axis: pad, and ignore the padding
            padding = np.zeros((fixed - len(tensors), *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, padding])
        try:
            outputs = self.model.runtime.run({self.model.input.name: batch})
        except LocalVisionError:
            raise
        except Exception as exc:
            raise InferenceError(f"Running {self.model.name} failed: {exc}.") from exc
        if any(o.ndim == 0 or o.shape[0] != len(batch) for o in outputs):
            raise InferenceError(
                f"Model {self.model.name!r} has an output without the batch axis; "
                "send it tensors rather than encoded images."
            )
        return [[output[i] for output in outputs] for i in range(len(tensors))]


def stack_rows(answers: Sequence[Rows | LocalVisionError]) -> list[Array]:
    """The outputs of one request from its images' rows; the first image error, raised."""
    for answer in answers:
        if isinstance(answer, LocalVisionError):
            raise answer
    rows = [a for a in answers if not isinstance(a, LocalVisionError)]
    return [np.stack([r[k] for r in rows]) for k in range(len(rows[0]))]


class TensorRun:
    """Runs one request's raw tensors, as they came (a call of a single item)."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def __call__(self, feeds: Sequence[Mapping[str, Array]]) -> list[list[Array]]:
        return [self.model.runtime.run(f) for f in feeds]


def _from_base64(image: EncodedImage) -> bytes:
    try:
        return codec.b64decode(image.data)
    except (binascii.Error, ValueError):
        raise InvalidParameterError(
            f"Input {image.input!r}[{image.index}]: in JSON, encoded images must be base64 strings."
        ) from None

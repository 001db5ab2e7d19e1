"""Blurring faces and text out of an image before it leaves the machine.

Metadata is always stripped by the providers themselves (they send a freshly encoded JPEG);
this module is the optional second step a route can ask for: the local face detector and OCR
find the regions, and each is replaced by a heavy Gaussian blur of itself, so the cloud still
sees the scene (labels, colours, objects) but not who is in it or what is written. When a
requested detector cannot run, :func:`redact` raises instead of sending the image unredacted.
"""

from __future__ import annotations

from collections.abc import Iterable

from PIL import Image, ImageFilter

from ..annotator import Annotator
from ..config import REDACTABLE
from ..errors import FeatureNotAvailableError
from ..imaging.decode import DEFAULT_LIMITS, ImageLimits, decode_image
from ..types import AnnotateRequest, Feature, FeatureRequest, ImageInput

__all__ = ["REDACTABLE", "blur_regions", "redact"]

Box = tuple[float, float, float, float]


def blur_regions(image: Image.Image, boxes: Iterable[Box], *, margin: float = 0.1) -> Image.Image:
    """A copy of ``image`` with each (left, top, right, bottom) box, grown by ``margin`` of its
    size on every side, blurred beyond recognition."""
    out = image.copy()
    for left, top, right, bottom in boxes:
        grow_x, grow_y = (right - left) * margin, (bottom - top) * margin
        region = (
            max(0, int(left - grow_x)),
            max(0, int(top - grow_y)),
            min(image.width, int(right + grow_x + 1)),
            min(image.height, int(bottom + grow_y + 1)),
        )
        if region[2] <= region[0] or region[3] <= region[1]:
            continue
        patch = out.crop(region)
        radius = max(6.0, min(patch.size) / 4)
        out.paste(patch.filter(ImageFilter.GaussianBlur(radius)), region[:2])
    return out


def redact(
    request: AnnotateRequest,
    local: Annotator,
    what: Iterable[str],
    limits: ImageLimits | None = None,
) -> tuple[ImageInput, list[str]]:
    """The image of ``request`` with ``what`` (``faces``, ``text``) blurred, and the list of
    redactions applied (``faces:2``, ``text:5``). Raises when a detector cannot run."""
    wanted = [Feature(w) for w in sorted(set(what) & REDACTABLE)]
    if not wanted:
        return request.image, []
    (found,) = local.annotate(
        [AnnotateRequest(request.image, [FeatureRequest(f) for f in wanted], request.name)]
    )
    boxes: list[Box] = []
    applied: list[str] = []
    if Feature.FACES in wanted:
        if found.faces is None:
            raise FeatureNotAvailableError(
                "Cannot redact faces: the local face detector did not run.",
                hint="Install the faces extra, or drop faces from the route's redact list.",
            )
        boxes += [(f.left, f.top, f.right, f.bottom) for f in found.faces]
        applied.append(f"faces:{len(found.faces)}")
    if Feature.TEXT in wanted:
        if found.text is None:
            raise FeatureNotAvailableError(
                "Cannot redact text: local OCR did not run.",
                hint="Install the ocr extra, or drop text from the route's redact list.",
            )
        for line in found.text:
            xs, ys = [x for x, _ in line.box], [y for _, y in line.box]
            boxes.append((min(xs), min(ys), max(xs), max(ys)))
        applied.append(f"text:{len(found.text)}")
    image = decode_image(request.image, limits=limits or DEFAULT_LIMITS, name=request.name)
    return blur_regions(image.pixels, boxes), applied

"""Drawing annotations on the image, for a person to check what was found.

Objects and faces as labelled boxes, text lines as polygons, crop hints as dashed rectangles,
the top labels in a caption, and the dominant colours as a strip along the bottom.
"""

from __future__ import annotations

from pathlib import Path

from PIL import ImageDraw, ImageFont

from ..types import AnnotateResult, ImageInput
from .decode import ImageLimits, decode_image

__all__ = ["draw_annotations"]

_OBJECT, _FACE, _TEXT, _CROP = (255, 64, 64), (64, 160, 255), (40, 200, 90), (255, 200, 0)


def draw_annotations(
    image: ImageInput, result: AnnotateResult, target: Path, *, limits: ImageLimits | None = None
) -> Path:
    """Write ``image`` with ``result`` drawn on it to ``target`` (format from its suffix)."""
    decoded = decode_image(image, limits=limits or ImageLimits())
    canvas = decoded.pixels.copy()
    scale = canvas.width / decoded.width if decoded.width else 1.0
    draw = ImageDraw.Draw(canvas)
    size = max(12, canvas.width // 60)
    font = ImageFont.load_default(size=size)
    width = max(2, canvas.width // 400)
    for obj in result.objects or []:
        box = [v * scale for v in (obj.left, obj.top, obj.right, obj.bottom)]
        _labelled_box(draw, box, f"{obj.name} {obj.score:.0%}", _OBJECT, width, font)
    for face in result.faces or []:
        box = [v * scale for v in (face.left, face.top, face.right, face.bottom)]
        _labelled_box(draw, box, f"face {face.confidence:.0%}", _FACE, width, font)
    for line in result.text or []:
        points = [(x * scale, y * scale) for x, y in line.box]
        draw.polygon(points, outline=_TEXT, width=width)
    for hint in result.crop_hints or []:
        box = [v * scale for v in (hint.left, hint.top, hint.right, hint.bottom)]
        _dashed_rectangle(draw, box, _CROP, width)
    if result.labels:
        caption = "; ".join(f"{lab.name} {lab.score:.0%}" for lab in result.labels[:3])
        _labelled_box(draw, None, caption, (0, 0, 0), width, font)
    if result.colors:
        strip = max(8, canvas.height // 25)
        left = 0.0
        for color in result.colors:
            right = left + color.pixel_fraction * canvas.width
            draw.rectangle(
                [left, canvas.height - strip, right, canvas.height],
                fill=(color.red, color.green, color.blue),
            )
            left = right
    target.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(target)
    return target


def _labelled_box(
    draw: ImageDraw.ImageDraw,
    box: list[float] | None,
    text: str,
    colour: tuple[int, int, int],
    width: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    if box is not None:
        draw.rectangle(box, outline=colour, width=width)
    anchor = (box[0], max(0.0, box[1] - font.size - 4)) if box else (4.0, 4.0)  # type: ignore[union-attr]
    left, top, right, bottom = draw.textbbox(anchor, text, font=font)
    draw.rectangle([left - 2, top - 2, right + 2, bottom + 2], fill=colour)
    draw.text(anchor, text, fill=(255, 255, 255), font=font)


def _dashed_rectangle(
    draw: ImageDraw.ImageDraw, box: list[float], colour: tuple[int, int, int], width: int
) -> None:
    left, top, right, bottom = box
    dash = 10 * width
    for start in range(int(left), int(right), 2 * dash):
        end = min(start + dash, right)
        draw.line([(start, top), (end, top)], fill=colour, width=width)
        draw.line([(start, bottom), (end, bottom)], fill=colour, width=width)
    for start in range(int(top), int(bottom), 2 * dash):
        end = min(start + dash, bottom)
        draw.line([(left, start), (left, end)], fill=colour, width=width)
        draw.line([(right, start), (right, end)], fill=colour, width=width)

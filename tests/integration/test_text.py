"""OCR on text rendered in the test from known strings: word accuracy, reading order, edge cases."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from localvision.engine import LocalEngine
from localvision.metrics.agreement import edit_distance
from localvision.types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest

from ..conftest import solid_jpeg

pytest.importorskip("rapidocr", reason="the ocr extra reads text")

TEXT = [FeatureRequest(Feature.TEXT)]
LINES = ["The quick brown fox", "jumps over 13 lazy dogs", "Invoice total 149.99 EUR"]
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")


def fonts() -> list[ImageFont.FreeTypeFont]:
    found = [ImageFont.load_default(size=40), ImageFont.load_default(size=30)]
    if DEJAVU.is_file():  # a second typeface where the system has one
        found.append(ImageFont.truetype(str(DEJAVU), 36))
    return found  # type: ignore[return-value]


def render(
    lines: list[str], font: object, *, dark_on_light: bool = True, angle: float = 0
) -> bytes:
    ink, paper = (
        ((20, 20, 20), (250, 250, 245)) if dark_on_light else ((245, 245, 245), (25, 35, 60))
    )
    image = Image.new("RGB", (900, 90 * len(lines) + 60), paper)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40, 40 + 90 * i), line, fill=ink, font=font)  # type: ignore[arg-type]
    if angle:
        image = image.rotate(angle, expand=True, fillcolor=paper, resample=Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine({}) as engine:
        yield engine


def read(engine: LocalEngine, data: bytes) -> AnnotateResult:
    (result,) = engine.annotate([AnnotateRequest(data, TEXT)])
    assert result.error is None, result.error
    return result


def char_error_rate(expected: str, got: str) -> float:
    return edit_distance(expected, got) / max(1, len(expected))


def test_word_accuracy_on_clean_renders(engine: LocalEngine) -> None:
    expected_words = got_words = 0
    errors: list[float] = []
    cases = [(font, dark, angle) for font in fonts() for dark in (True, False) for angle in (0,)]
    cases += [(fonts()[0], True, 10), (fonts()[0], True, -10)]
    for font, dark, angle in cases:
        result = read(engine, render(LINES, font, dark_on_light=dark, angle=angle))
        words = [w.text for line in result.text or [] for w in line.words]
        want = " ".join(LINES).split()
        expected_words += len(want)
        got_words += sum(1 for w in want if w in words)
        errors.append(
            char_error_rate("\n".join(LINES), "\n".join(line.text for line in result.text or []))
        )
    accuracy = got_words / expected_words
    print(
        f"OCR word accuracy {accuracy:.1%} over {len(cases)} renders; "
        f"mean character error rate {sum(errors) / len(errors):.2%}"
    )
    assert accuracy >= 0.95


def test_lines_come_back_in_reading_order_with_boxes(engine: LocalEngine) -> None:
    result = read(engine, render(LINES, fonts()[0]))
    assert [line.text for line in result.text or []] == LINES
    tops = [min(y for _, y in line.box) for line in result.text or []]
    assert tops == sorted(tops)
    first = (result.text or [])[0]
    assert [w.text for w in first.words] == LINES[0].split()
    lefts = [min(x for x, _ in w.box) for w in first.words]
    assert lefts == sorted(lefts)
    assert all(0.5 < w.confidence <= 1 for w in first.words)


def test_boxes_are_in_pixels_of_the_original(engine: LocalEngine) -> None:
    image = Image.new("RGB", (3000, 1000), "white")
    ImageDraw.Draw(image).text(
        (1500, 500), "Scaled", fill="black", font=ImageFont.load_default(size=120)
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    result = read(engine, buffer.getvalue())
    (line,) = result.text or []
    xs = [x for x, _ in line.box]
    assert line.text == "Scaled" and 1400 < min(xs) < 1600 and max(xs) < 2100


@pytest.mark.parametrize("size", [(1, 1), (640, 480), (2000, 12)])
def test_images_without_text_give_no_lines(engine: LocalEngine, size: tuple[int, int]) -> None:
    assert read(engine, solid_jpeg((200, 200, 200), size=size)).text == []

"""The privacy pre-check's text and EXIF rules."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from localvision.cloud.privacy import (
    find_personal_data,
    has_gps,
    iban_valid,
    luhn_valid,
    reading_order,
)


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111 1111 1111 1111", True), ("4111 1111 1111 1112", False), ("5500-0000-0000-0004", True)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("GB82 WEST 1234 5698 7654 32", True),
        ("GB82 WEST 1234 5698 7654 33", False),
        ("DE00", False),
    ],
)
def test_iban(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("write to jo.doe@example.co.uk today", ["email"]),
        ("Card: 4111 1111 1111 1111", ["card"]),
        ("pay to GB82 WEST 1234 5698 7654 32", ["iban"]),
        ("IBAN GB82 WEST 1234 5698 7654 32 TODAY PLEASE", ["iban"]),  # a word runs on
        ("call +44 20 7946 0958 now", ["phone"]),
        ("Room 42, opening hours 9-17", []),
        ("order 4111 1111 1111 1112", []),  # 16 digits failing Luhn: neither card nor phone
        ("mail a@b.io or call 020 7946 0958", ["email", "phone"]),
        ("", []),
    ],
)
def test_personal_data_kinds(text: str, kinds: list[str]) -> None:
    assert find_personal_data(text) == kinds


def test_user_patterns() -> None:
    patient = [re.compile(r"\bMRN-\d{6}\b")]
    assert find_personal_data("chart MRN-123456", patient) == ["pattern"]
    assert find_personal_data("chart MRN-12", patient) == []


def test_gps_in_exif() -> None:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 0.0)
    tagged, plain = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (20, 20)).save(tagged, "JPEG", exif=exif)
    Image.new("RGB", (20, 20)).save(plain, "JPEG")
    assert has_gps(tagged.getvalue()) and not has_gps(plain.getvalue())
    assert not has_gps(b"not an image")


def test_reading_order_rejoins_pieces_of_one_printed_line() -> None:
    from localvision.types import TextLine

    def piece(text: str, left: float, top: float) -> TextLine:
        box = ((left, top), (left + 50, top), (left + 50, top + 20), (left, top + 20))
        return TextLine(text=text, confidence=1.0, box=box)

    lines = [piece("1111", 120, 2), piece("4111", 60, 0), piece("Card", 0, 1), piece("Next", 0, 40)]
    assert reading_order(lines) == "Card 4111 1111\nNext"
    assert find_personal_data(reading_order([])) == []


def test_blur_regions_changes_only_the_boxes() -> None:
    import numpy as np

    from localvision.cloud.redaction import blur_regions

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    out = np.asarray(blur_regions(image, [(10, 10, 30, 30)], margin=0.0)).astype(int)
    before = np.asarray(image).astype(int)
    assert np.array_equal(out[40:, :], before[40:, :]) and np.array_equal(
        out[:, 40:], before[:, 40:]
    )
    assert out[12:28, 12:28].std() < before[12:28, 12:28].std() / 3  # noise smoothed away
    assert np.array_equal(np.asarray(blur_regions(image, [(5, 5, 5, 5)], margin=0.0)), before)

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from localvision.tasks.colors import dominant_colors, image_quality
from localvision.tasks.palette import nearest_name, srgb_to_lab


def blocks(parts: list[tuple[tuple[int, int, int], int]], height: int = 40) -> np.ndarray:
    """Vertical stripes: (colour, width) each, as an (N, 3) pixel array."""
    image = np.concatenate(
        [np.tile(np.array(colour, np.uint8), (height, width, 1)) for colour, width in parts], axis=1
    )
    return image.reshape(-1, 3)


def test_known_palette_is_recovered_with_fractions() -> None:
    pixels = blocks([((220, 20, 30), 60), ((20, 40, 200), 30), ((250, 250, 250), 10)])
    colors = dominant_colors(pixels)
    assert [(c.red, c.green, c.blue) for c in colors] == [
        (220, 20, 30),
        (20, 40, 200),
        (250, 250, 250),
    ]
    assert [c.pixel_fraction for c in colors] == pytest.approx([0.6, 0.3, 0.1])
    assert sum(c.pixel_fraction for c in colors) == pytest.approx(1.0)
    assert [c.simple_name for c in colors] == ["red", "blue", "white"]
    assert colors[0].score == colors[0].pixel_fraction
    assert colors[1].hex == "#1428c8"


def test_noisy_palette_stays_close_to_its_centres() -> None:
    rng = np.random.default_rng(1)
    pixels = blocks([((200, 120, 40), 50), ((40, 160, 80), 50)])
    noisy = np.clip(pixels.astype(int) + rng.integers(-6, 7, pixels.shape), 0, 255).astype(np.uint8)
    colors = dominant_colors(noisy)
    assert len(colors) == 2  # near-identical shades merge into their colour
    found = srgb_to_lab(np.array([(c.red, c.green, c.blue) for c in colors]))
    for want in [(200, 120, 40), (40, 160, 80)]:
        assert np.linalg.norm(found - srgb_to_lab(np.array(want)), axis=1).min() < 3


def test_flat_tiny_and_repeated_images() -> None:
    (only,) = dominant_colors(np.full((1, 3), 77, np.uint8))
    assert (only.red, only.pixel_fraction) == (77, 1.0)
    assert dominant_colors(np.zeros((0, 3), np.uint8)) == []
    pixels = blocks([((1, 2, 3), 5), ((200, 100, 0), 7), ((0, 90, 180), 3)])
    expected = [((200, 100, 0), 7 / 15), ((1, 2, 3), 5 / 15), ((0, 90, 180), 3 / 15)]
    shuffled = pixels[np.random.default_rng(1).permutation(len(pixels))]
    for variant in (pixels, shuffled, np.tile(pixels, (3, 1))):  # order and repetition
        found = [((c.red, c.green, c.blue), c.pixel_fraction) for c in dominant_colors(variant)]
        assert [rgb for rgb, _ in found] == [rgb for rgb, _ in expected]
        assert [share for _, share in found] == pytest.approx([s for _, s in expected])


def test_quality_measures_move_the_right_way() -> None:
    rng = np.random.default_rng(0)
    detailed = Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))
    blurred = detailed.filter(ImageFilter.GaussianBlur(4))
    assert image_quality(detailed).sharpness > image_quality(blurred).sharpness
    flat = image_quality(Image.new("RGB", (50, 50), (128, 128, 128)))
    assert flat.contrast == 0 and flat.sharpness == 0
    assert image_quality(Image.new("RGB", (9, 9), "white")).brightness == pytest.approx(1.0)
    assert image_quality(Image.new("RGB", (1, 1), "black")).brightness == 0


def test_lab_reference_values() -> None:
    assert srgb_to_lab(np.array([255, 255, 255])) == pytest.approx([100, 0, 0], abs=0.01)
    assert srgb_to_lab(np.array([0, 0, 0])) == pytest.approx([0, 0, 0], abs=0.01)
    assert srgb_to_lab(np.array([255, 0, 0])) == pytest.approx([53.24, 80.09, 67.20], abs=0.05)


@pytest.mark.parametrize(
    ("rgb", "css", "basic"),
    [
        ((255, 0, 0), "red", "red"),
        ((210, 180, 140), "tan", "brown"),
        ((0, 0, 128), "navy", "blue"),
        ((255, 250, 250), "snow", "white"),
        ((255, 192, 203), "pink", "pink"),
    ],
)
def test_colour_names(rgb: tuple[int, int, int], css: str, basic: str) -> None:
    assert nearest_name(rgb) == css
    assert nearest_name(rgb, basic=True) == basic

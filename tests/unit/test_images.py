from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from localvision.errors import (
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidInputError,
    LocalVisionError,
    UnsupportedImageFormatError,
)
from localvision.imaging.decode import ImageLimits, decode_image

from ..builders import interlaced_png, noise_image, poison_images, truncated_interlaced_png

RED, BLUE = (255, 0, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose pixel data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF"])
def test_every_accepted_format_decodes_to_rgb(fmt: str) -> None:
    data = encode(Image.new("RGB", (30, 20), (200, 30, 40)), fmt)
    image = decode_image(data)
    assert image.pixels.mode == "RGB"
    assert (image.width, image.height) == (30, 20)
    assert image.format == fmt
    r, g, b = image.pixels.getpixel((15, 10))  # type: ignore[misc]
    assert r > 150 and g < 90 and b < 90


def test_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    image = decode_image(buffer.getvalue())
    assert image.pixels.getpixel((4, 4)) == RED


def test_exif_orientation_is_applied_and_reported_in_the_size() -> None:
    stored = Image.new("RGB", (40, 20), RED)
    stored.paste(Image.new("RGB", (20, 20), BLUE), (20, 0))  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    image = decode_image(encode(stored, "JPEG", exif=exif, quality=95))
    assert (image.width, image.height) == (20, 40)
    assert image.pixels.size == (20, 40)
    top, bottom = image.pixels.getpixel((10, 5)), image.pixels.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # type: ignore[index]  # the left half went to the top
    assert bottom[2] > 200 and bottom[0] < 60  # type: ignore[index]


def test_large_jpeg_is_decoded_at_reduced_scale_when_few_pixels_are_needed() -> None:
    data = encode(Image.new("RGB", (2000, 1500), (10, 120, 30)), "JPEG")
    image = decode_image(data, min_side=224)
    assert (image.width, image.height) == (2000, 1500)
    assert 224 <= min(image.pixels.size) < 1500
    assert image.scale < 0.5
    full = decode_image(data)
    assert full.pixels.size == (2000, 1500) and full.scale == 1.0


def test_reduced_scale_keeps_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    data = encode(Image.new("RGB", (1600, 900), RED), "JPEG", exif=exif)
    image = decode_image(data, min_side=100)
    assert (image.width, image.height) == (900, 1600)
    assert image.pixels.width < image.pixels.height


def test_transparency_becomes_white() -> None:
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    image = decode_image(encode(rgba, "PNG"))
    assert image.pixels.getpixel((1, 1)) == (255, 255, 255)


def test_sixteen_bit_grayscale_png_is_scaled_to_eight_bits() -> None:
    array = np.full((6, 6), 65535, dtype=np.uint16)
    image = decode_image(encode(Image.fromarray(array), "PNG"))
    assert image.pixels.getpixel((0, 0)) == (255, 255, 255)


def test_one_pixel_image_is_fine() -> None:
    assert decode_image(encode(Image.new("RGB", (1, 1)), "PNG")).pixels.size == (1, 1)


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"", ImageDecodeError, "empty"),
        (b"hello, this is not an image at all", ImageDecodeError, "not a recognisable image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, ImageDecodeError, "upload.jpg"),
    ],
)
def test_bad_bytes_get_decode_errors(data: bytes, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        decode_image(data, name="upload.jpg")


def test_truncated_jpeg_is_a_decode_error_naming_the_image() -> None:
    data = encode(Image.effect_noise((256, 256), 50).convert("RGB"), "JPEG")
    with pytest.raises(ImageDecodeError, match="upload.jpg"):
        decode_image(data[: len(data) // 2], name="upload.jpg")


def test_other_image_formats_are_refused_by_name() -> None:
    with pytest.raises(UnsupportedImageFormatError, match="PPM"):
        decode_image(encode(Image.new("RGB", (4, 4)), "PPM"))


def test_byte_limit_applies_to_bytes_and_files_before_reading(tmp_path: Path) -> None:
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG")
    limits = ImageLimits(max_bytes=100)
    with pytest.raises(ImageTooLargeError, match="limit is 100"):
        decode_image(data, limits=limits)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ImageTooLargeError, match="big.png"):
        decode_image(path, limits=limits)


def test_pixel_limit_fails_before_decoding() -> None:
    # 8000x8000 = 64 MP claimed by a header with almost no data: decoding would fail as
    # truncated, so a size error proves the limit was checked first.
    with pytest.raises(ImageTooLargeError, match="64,000,000 pixels"):
        decode_image(png_header_only(8000, 8000))


def test_decompression_bomb_beyond_pillows_own_limit_is_too_large() -> None:
    with pytest.raises(ImageTooLargeError):
        decode_image(png_header_only(60000, 60000))


def test_pixel_limit_is_configurable() -> None:
    data = encode(Image.new("RGB", (20, 20)), "PNG")
    with pytest.raises(ImageTooLargeError):
        decode_image(data, limits=ImageLimits(max_pixels=399))
    assert decode_image(data, limits=ImageLimits(max_pixels=400)).width == 20


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="does not exist"):
        decode_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageNotFoundError, match="not a file"):
        decode_image(tmp_path)


def test_paths_as_strings_and_path_objects(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(encode(Image.new("RGB", (3, 2), RED), "PNG"))
    assert decode_image(str(path)).name == str(path)
    assert decode_image(path).pixels.getpixel((0, 0)) == RED


def test_arrays_gray_rgb_and_rgba() -> None:
    assert decode_image(np.zeros((4, 5), np.uint8)).pixels.size == (5, 4)
    assert decode_image(np.zeros((4, 5, 3), np.uint8)).pixels.mode == "RGB"
    rgba = np.zeros((4, 5, 4), np.uint8)
    assert decode_image(rgba).pixels.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((4, 5, 3), np.float32), "dtype uint8"),
        (np.zeros((4, 5, 2), np.uint8), "must be HxW"),
        (np.zeros((4,), np.uint8), "must be HxW"),
        (np.zeros((0, 5, 3), np.uint8), "no pixels"),
    ],
)
def test_bad_arrays_are_refused(array: np.ndarray, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        decode_image(array)


def test_pil_images_are_accepted_and_converted() -> None:
    image = decode_image(Image.new("L", (3, 3), 128))
    assert image.pixels.mode == "RGB"


def test_unsupported_python_objects_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="int"):
        decode_image(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0)])
def test_zero_sized_images_are_decode_errors(width: int, height: int) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(png_header_only(width, height))


# Issue 12, item 5: broken files that made Pillow raise something other than what it documents
# (a TypeError on the 194-byte interlaced PNG) escaped decode_image and failed whole batches.
POISON = poison_images()


def test_the_194_byte_interlaced_png_of_issue_12_is_its_own_decode_error() -> None:
    data = truncated_interlaced_png()
    assert len(data) == 194 and data[28] == 1  # IHDR 320x213, Adam7
    with pytest.raises(ImageDecodeError, match=r"poison\.png is corrupt or truncated") as info:
        decode_image(data, name="poison.png")
    assert info.value.hint


@pytest.mark.parametrize("min_side", [None, 16])
@pytest.mark.parametrize("name", sorted(POISON))
def test_broken_files_decode_to_their_own_error_only(name: str, min_side: int | None) -> None:
    try:
        decode_image(POISON[name], name=name, min_side=min_side)
    except LocalVisionError as exc:
        assert isinstance(exc, ImageDecodeError), f"{type(exc).__name__}: {exc}"
        assert name in exc.message
    except Exception as exc:  # anything else is what failed other people's images
        pytest.fail(f"{name} raised {type(exc).__name__}: {exc}")
    else:
        pytest.fail(f"{name} decoded although it is broken")


def test_a_png_with_corrupt_compressed_data_is_not_half_decoded() -> None:
    # getexif() used to load the pixels first and its error was swallowed, so the next load()
    # returned whatever had been decoded before the corruption as if the image were whole.
    data = bytearray(encode(noise_image((40, 28), seed=5), "PNG"))
    at = data.find(b"IDAT")
    (length,) = struct.unpack(">I", data[at - 4 : at])
    data[at + 4 + length // 2] ^= 0x10
    with pytest.raises(ImageDecodeError, match="upload.png"):
        decode_image(bytes(data), name="upload.png")


def test_a_whole_interlaced_png_still_decodes() -> None:
    image = noise_image((33, 21), seed=4)
    decoded = decode_image(interlaced_png(image))
    assert (decoded.width, decoded.height) == (33, 21)
    assert np.array_equal(np.asarray(decoded.pixels), np.asarray(image))


@pytest.mark.parametrize(
    ("raised", "error"),
    [
        (TypeError("function takes at most 3 arguments (4 given)"), ImageDecodeError),
        (RuntimeError("decoder state"), ImageDecodeError),
        (MemoryError(), ImageTooLargeError),
    ],
)
def test_whatever_a_decoder_raises_becomes_the_images_own_error(
    monkeypatch: pytest.MonkeyPatch, raised: Exception, error: type
) -> None:
    def broken(self: Image.Image, *args: object, **kwargs: object) -> Image.Image:
        raise raised

    monkeypatch.setattr(Image.Image, "convert", broken)
    data = encode(Image.new("L", (4, 4)), "PNG")
    with pytest.raises(error, match="upload.png"):
        decode_image(data, name="upload.png")
    with pytest.raises(error, match="array"):
        decode_image(np.zeros((3, 3, 4), np.uint8), name="array")

"""Seeded mutations of real and generated images through the engine (issue 12, item 5).

Every mutated file goes through :class:`LocalEngine` with the built-in features (colours and
crop hints: no model needed) next to unmutated images. Whatever the bytes hold, the engine must
answer one result per request, in order, and each result is either annotations or that image's
own :class:`LocalVisionError` naming it: a poison image never fails the batch it is in, never
raises out of the engine, and never comes back as another image's error.

Bounded: a fixed number of cases from a seeded ``random.Random``, images of at most a few
thousand pixels (the fixture photos are mutated as they are but capped by a pixel limit), so it
runs in a few seconds on a slow two-core machine.
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from localvision.engine import LocalEngine
from localvision.errors import LocalVisionError
from localvision.imaging.decode import ImageLimits
from localvision.tasks import registry
from localvision.tasks.base import Task
from localvision.tasks.colors import ColorsTask
from localvision.tasks.crop_hints import CropHintsTask
from localvision.types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest

from ..builders import encoded, interlaced_png, noise_image

# Pillow warns about the broken EXIF and TIFF tags it skips; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.*")

SEED = 20240612
GENERATED_CASES = 300
PHOTO_CASES = 120
CHUNK = 24  # requests per engine call: several batches each, so order is checked across them
FEATURES = [FeatureRequest(Feature.COLORS), FeatureRequest(Feature.CROP_HINTS)]
# The photos are at most 1280x720; a mutated header may claim far more, which is refused
# before decoding. This keeps a claimed 7000x7000 BMP from costing a 150 MB allocation.
LIMITS = ImageLimits(max_bytes=4 * 1024 * 1024, max_pixels=2_000_000)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Values that tend to break parsers when written into a header field.
INTERESTING = (0, 1, 2, 7, 8, 15, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF)


def generated_images() -> dict[str, bytes]:
    """Small images of every accepted format, in several modes and encoder settings."""
    rgb = noise_image((40, 28), seed=1)
    smooth = Image.linear_gradient("L").resize((48, 32)).convert("RGB")
    rgba = rgb.convert("RGBA")
    frames = [noise_image((24, 16), seed=s).convert("P") for s in (2, 3)]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    return {
        "gen.png": encoded(rgb, "PNG"),
        "gen-rgba.png": encoded(rgba, "PNG"),
        "gen-gray.png": encoded(smooth.convert("L"), "PNG"),
        "gen-palette.png": encoded(rgb.convert("P"), "PNG"),
        "gen-interlaced.png": interlaced_png(rgb),
        "gen.jpg": encoded(smooth, "JPEG", quality=85),
        "gen-progressive.jpg": encoded(rgb, "JPEG", quality=85, progressive=True),
        "gen.gif": gif,
        "gen.tiff": encoded(rgb, "TIFF"),
        "gen-lzw.tiff": encoded(rgb, "TIFF", compression="tiff_lzw"),
        "gen.bmp": encoded(rgb, "BMP"),
        "gen-lossy.webp": encoded(rgb, "WEBP", quality=70),
        "gen-lossless.webp": encoded(rgba, "WEBP", lossless=True),
    }


def photo_images(folder: Path) -> dict[str, bytes]:
    """The fixture photos as encoded on disk, smallest first."""
    paths = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES),
        key=lambda p: p.stat().st_size,
    )
    return {f"photo-{p.name}": p.read_bytes() for p in paths}


# --- mutations: each takes the bytes and the seeded generator, returns new bytes -------------


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    """Flip 1 to 8 bits, half the time within the first 256 bytes where headers live."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        end = min(len(out), 256) if rng.random() < 0.5 else len(out)
        out[rng.randrange(end)] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    """Cut the file anywhere, from right after the signature to one byte short."""
    return data[: rng.randint(8, max(8, len(data) - 1))]


def duplicate_chunk(data: bytes, rng: random.Random) -> bytes:
    """Repeat one PNG chunk in place, or any byte range of another format elsewhere."""
    chunks = png_chunks(data)
    if chunks:
        start, end = rng.choice(chunks)
        return data[:end] + data[start:end] + data[end:]
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 512))
    at = rng.randrange(len(data))
    return data[:at] + data[start:end] + data[at:]


def change_header_field(data: bytes, rng: random.Random) -> bytes:
    """Write an interesting value into a header field the format defines (CRC kept valid for
    PNG, so the parser goes on to use the value), else into any early 2- or 4-byte field."""
    out = bytearray(data)
    value = rng.choice(INTERESTING)
    if data.startswith(b"\x89PNG") and len(data) >= 33:
        # IHDR: width, height (4 bytes each), bit depth, colour type, compression, filter,
        # interlace (1 byte each).
        offset, size = rng.choice([(16, 4), (20, 4), (24, 1), (25, 1), (26, 1), (27, 1), (28, 1)])
        _put(out, offset, size, value, ">")
        out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])) & 0xFFFFFFFF)
    elif data.startswith(b"BM") and len(data) >= 34:
        offset, size = rng.choice([(10, 4), (14, 4), (18, 4), (22, 4), (28, 2), (30, 4)])
        _put(out, offset, size, value, "<")
    elif data.startswith(b"GIF") and len(data) >= 13:
        offset, size = rng.choice([(6, 2), (8, 2), (10, 1)])
        _put(out, offset, size, value, "<")
    elif data.startswith(b"\xff\xd8") and (sof := _jpeg_sof(data)) is not None:
        # SOF: precision (1), height (2), width (2), components (1).
        offset, size = rng.choice([(sof + 4, 1), (sof + 5, 2), (sof + 7, 2), (sof + 9, 1)])
        _put(out, offset, size, value, ">")
    else:
        size = rng.choice([2, 4])
        offset = rng.randrange(max(1, min(len(out), 64) - size))
        _put(out, offset, size, value, rng.choice("<>"))
    return bytes(out)


MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    flip_bits,
    truncate,
    duplicate_chunk,
    change_header_field,
)


def _put(out: bytearray, offset: int, size: int, value: int, order: str) -> None:
    fmt = {1: "B", 2: "H", 4: "I"}[size]
    out[offset : offset + size] = struct.pack(order + fmt, value % (1 << (8 * size)))


def png_chunks(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of each whole chunk of a PNG; empty for anything else."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return []
    chunks, at = [], 8
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        end = at + 12 + length
        if end > len(data):
            break
        chunks.append((at, end))
        at = end
    return chunks


def _jpeg_sof(data: bytes) -> int | None:
    """Offset of the first SOF0/SOF2 marker's length field in a JPEG."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0 and at + 11 <= len(data):
            return at + 2
    return None


# --- the check ------------------------------------------------------------------------------


def mutated_cases(bases: dict[str, bytes], count: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` named mutations of ``bases``, the same ones on every run."""
    rng = random.Random(seed)
    names = sorted(bases)
    cases = []
    for i in range(count):
        base = names[i % len(names)]
        mutation = MUTATIONS[rng.randrange(len(MUTATIONS))]
        data = bases[base]
        for _ in range(1 if rng.random() < 0.8 else 2):  # now and then, two at once
            data = mutation(data, rng)
        cases.append((f"{i:03d}-{mutation.__name__}-{base}", data))
    return cases


@pytest.fixture(autouse=True)
def without_face_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colours and crop hints only: with the faces extra installed, crop hints would run the
    face detector on every image (about 0.2 s each), which is not what is fuzzed here."""

    def builtin_tasks() -> dict[Feature, Task]:
        return {Feature.COLORS: ColorsTask(), Feature.CROP_HINTS: CropHintsTask()}

    monkeypatch.setattr(registry, "build_builtin_tasks", builtin_tasks)


def run_through_engine(cases: list[tuple[str, bytes]], good: dict[str, bytes]) -> None:
    """Every case between good images through one engine; check each answer is its own."""
    goods = sorted(good.items())
    requests: list[AnnotateRequest] = []
    for i, (name, data) in enumerate(cases):
        requests.append(AnnotateRequest(data, FEATURES, name=name))
        if i % 5 == 0:
            good_name, good_data = goods[i // 5 % len(goods)]
            requests.append(AnnotateRequest(good_data, FEATURES, name=f"good-{i}-{good_name}"))
    results: list[AnnotateResult] = []
    with LocalEngine({}, limits=LIMITS, batch_size=8, decode_workers=2) as engine:
        for start in range(0, len(requests), CHUNK):
            results.extend(engine.annotate(requests[start : start + CHUNK]))
    assert [r.name for r in results] == [r.name for r in requests], "one result per request"
    failures = [problem for r in results if (problem := _problem(r)) is not None]
    assert not failures, "\n".join(failures)


def _problem(result: AnnotateResult) -> str | None:
    """What is wrong with ``result``, or None when it is a result or its own error."""
    name = result.name or ""
    if result.error is None:
        if result.colors is None or result.crop_hints is None or not result.width:
            return f"{name}: no error, yet no annotations"
        return None
    if not isinstance(result.error, LocalVisionError):
        return f"{name}: {type(result.error).__name__} is not a LocalVisionError"
    if name.startswith("good-"):
        return f"{name}: an unmutated image failed: {result.error.message}"
    if name not in result.error.message:
        return f"{name}: the error does not name its image: {result.error.message}"
    return None


def test_mutated_generated_images_fail_alone_with_their_own_errors() -> None:
    bases = generated_images()
    started = time.perf_counter()
    run_through_engine(mutated_cases(bases, GENERATED_CASES, SEED), bases)
    assert time.perf_counter() - started < 60, "the fuzz run is meant to take a few seconds"


def test_mutated_fixture_photos_fail_alone_with_their_own_errors() -> None:
    from ..conftest import SHARED_FIXTURES

    folder = SHARED_FIXTURES / "photos"
    if not folder.is_dir():
        pytest.skip(f"fixture photos not found at {folder}: only generated images were fuzzed")
    photos = photo_images(folder)
    if not photos:
        pytest.skip(f"no photos in {folder}: only generated images were fuzzed")
    started = time.perf_counter()
    run_through_engine(mutated_cases(photos, PHOTO_CASES, SEED + 1), photos)
    assert time.perf_counter() - started < 60, "the fuzz run is meant to take a few seconds"


def test_the_mutations_change_the_bytes_and_are_reproducible() -> None:
    bases = generated_images()
    first = mutated_cases(bases, 40, SEED)
    assert first == mutated_cases(bases, 40, SEED)
    changed = sum(data != bases[name.split("-", 2)[2]] for name, data in first)
    assert changed >= 36  # a flip may undo another; nearly all must differ

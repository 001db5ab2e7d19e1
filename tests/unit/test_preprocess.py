from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from localvision.errors import ModelCardError
from localvision.models.card import (
    CardFields,
    InputRange,
    Layout,
    ModelCard,
    ResizeMode,
    resolve_card,
)
from localvision.models.preprocess import (
    PREPROCESSING_FIELDS,
    assumed_preprocessing,
    crop_box,
    to_tensor,
)
from localvision.models.runtime import TensorSpec
from localvision.types import DecodedImage

F32 = TensorSpec("x", (None, 3, 4, 4), np.dtype(np.float32))


def card(**fields: object) -> ModelCard:
    layout = fields.get("layout", Layout.NCHW)
    shape = (None, 3, None, None) if layout == Layout.NCHW else (None, None, None, 3)
    return resolve_card(
        [("user", CardFields.model_validate({"input_size": 4, **fields}))],
        input_shape=shape,
        input_is_integer=False,
        num_classes=None,
    )


def image(colour: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> DecodedImage:
    pixels = Image.new("RGB", size, colour)
    return DecodedImage(pixels, *size)


def test_layouts_and_ranges() -> None:
    red = image((255, 0, 51))
    nchw = to_tensor(red, card(input_range="0..1"), F32)
    assert nchw.shape == (3, 4, 4) and nchw.dtype == np.float32
    assert nchw[:, 0, 0] == pytest.approx([1.0, 0.0, 0.2])
    nhwc = to_tensor(red, card(input_range="-1..1", layout="NHWC"), F32)
    assert nhwc.shape == (4, 4, 3)
    assert nhwc[0, 0] == pytest.approx([1.0, -1.0, -0.6])
    raw = to_tensor(red, card(input_range="0..255"), F32)
    assert raw[:, 0, 0] == pytest.approx([255.0, 0.0, 51.0])


def test_mean_and_std_apply_after_scaling() -> None:
    tensor = to_tensor(image((255, 0, 0)), card(), F32)  # defaults: 0..1 + ImageNet
    assert tensor[:, 1, 1] == pytest.approx(
        [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225], rel=1e-5
    )


def test_bgr_order_flips_channels() -> None:
    tensor = to_tensor(image((255, 0, 0)), card(input_range="0..1", channel_order="BGR"), F32)
    assert tensor[:, 0, 0] == pytest.approx([0.0, 0.0, 1.0])


def test_uint8_and_int8_inputs_take_raw_pixels() -> None:
    raw_card = card(input_range="0..255")
    u8 = to_tensor(image((200, 10, 0)), raw_card, TensorSpec("x", (1, 3, 4, 4), np.dtype(np.uint8)))
    assert u8.dtype == np.uint8 and list(u8[:, 0, 0]) == [200, 10, 0]
    i8 = to_tensor(image((200, 10, 0)), raw_card, TensorSpec("x", (1, 3, 4, 4), np.dtype(np.int8)))
    assert i8.dtype == np.int8 and list(i8[:, 0, 0]) == [72, -118, -128]


def test_quantized_input_with_normalisation_uses_the_tensor_parameters() -> None:
    spec = TensorSpec("x", (1, 3, 4, 4), np.dtype(np.uint8), quantization=(1 / 128, 128))
    tensor = to_tensor(image((255, 0, 64)), card(input_range="-1..1"), spec)
    # 255 -> 1.0 -> 128+128 (clipped to 255); 0 -> -1.0 -> 0; 64 -> -0.498 -> -64+128
    assert list(tensor[:, 0, 0]) == [255, 0, 64]
    bare = TensorSpec("x", (1, 3, 4, 4), np.dtype(np.uint8))
    with pytest.raises(ModelCardError, match="without quantization"):
        to_tensor(image((1, 2, 3)), card(input_range="-1..1"), bare)


def test_centre_crop_keeps_the_middle() -> None:
    pixels = Image.new("RGB", (12, 4), (0, 0, 255))
    pixels.paste(Image.new("RGB", (4, 4), (255, 0, 0)), (4, 0))  # red square in the middle
    tensor = to_tensor(DecodedImage(pixels, 12, 4), card(input_range="0..1"), F32)
    assert np.all(tensor[0] > 0.9) and np.all(tensor[2] < 0.1)


def test_stretch_and_letterbox() -> None:
    wide = image((255, 255, 255), size=(16, 4))
    stretched = to_tensor(wide, card(input_range="0..255", resize="stretch"), F32)
    assert np.all(stretched == 255)
    boxed = to_tensor(wide, card(input_range="0..255", resize=ResizeMode.LETTERBOX), F32)
    # 16x4 scaled into 4x4 is 4x1: one image row, padding above and below.
    assert np.all(boxed[:, 1, :] == 255)
    assert np.all(boxed[:, 0, :] == 114) and np.all(boxed[:, 2:, :] == 114)


def test_grayscale_models_get_one_channel() -> None:
    spec = TensorSpec("x", (None, 1, 4, 4), np.dtype(np.float32))
    gray_card = resolve_card(
        [("user", CardFields(input_size=4, input_range=InputRange.UNIT))],
        input_shape=spec.shape,
        input_is_integer=False,
        num_classes=None,
    )
    tensor = to_tensor(image((255, 255, 255)), gray_card, spec, channels=1)
    assert tensor.shape == (1, 4, 4) and tensor.max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("size", "target", "box"),
    [
        ((200, 100), (50, 50), (50.0, 0.0, 150.0, 100.0)),
        ((100, 200), (50, 50), (0.0, 50.0, 100.0, 150.0)),
        ((100, 100), (100, 50), (0.0, 25.0, 100.0, 75.0)),
    ],
)
def test_crop_box(size: tuple[int, int], target: tuple[int, int], box: tuple[float, ...]) -> None:
    assert crop_box(size, target) == pytest.approx(box)


def test_caffe_mode_is_bgr_with_the_means_subtracted_and_no_scaling() -> None:
    caffe = card(
        input_range="0..255",
        channel_order="BGR",
        mean=[103.939, 116.779, 123.68],
        std=[1, 1, 1],
        layout="NHWC",
    )
    tensor = to_tensor(image((200, 100, 50)), caffe, F32)
    assert tensor[2, 3] == pytest.approx([50 - 103.939, 100 - 116.779, 200 - 123.68], rel=1e-6)


def _resolved(*layers: tuple[str, CardFields], integer: bool = False) -> ModelCard:
    return resolve_card(
        layers, input_shape=(None, 3, 4, 4), input_is_integer=integer, num_classes=None
    )


def test_assumed_preprocessing_lists_the_defaults_when_the_scaling_is_a_guess() -> None:
    assert assumed_preprocessing(_resolved(), F32) == list(PREPROCESSING_FIELDS)
    told_resize = _resolved(("card", CardFields(resize=ResizeMode.STRETCH)))
    assert assumed_preprocessing(told_resize, F32) == [
        "input_range",
        "mean",
        "std",
        "channel_order",
    ]


def test_assumed_preprocessing_is_empty_once_the_scaling_is_stated() -> None:
    for origin in ("model", "card", "user"):
        told = _resolved((origin, CardFields(input_range=InputRange.SYMMETRIC)))
        assert assumed_preprocessing(told, F32) == [], origin
    u8 = TensorSpec("x", (1, 3, 4, 4), np.dtype(np.uint8))  # raw pixels by its type
    assert assumed_preprocessing(_resolved(integer=True), u8) == []

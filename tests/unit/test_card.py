from __future__ import annotations

from pathlib import Path

import pytest

from localvision.errors import ModelCardError
from localvision.models.card import (
    IMAGENET_MEAN,
    CardFields,
    InputRange,
    Layout,
    OutputActivation,
    parse_card_fields,
    read_labels,
    read_sidecar,
    resolve_card,
)

NCHW_224 = (None, 3, 224, 224)


def resolve(*layers: tuple[str, CardFields], shape=NCHW_224, integer=False, classes=None):  # type: ignore[no-untyped-def]
    return resolve_card(layers, input_shape=shape, input_is_integer=integer, num_classes=classes)


def test_float_input_defaults_to_unit_range_with_imagenet_normalisation() -> None:
    card = resolve()
    assert card.input_range is InputRange.UNIT
    assert card.mean == IMAGENET_MEAN
    assert card.input_size == (224, 224)
    assert card.provenance["mean"] == "default"
    assert card.provenance["input_size"] == "default"


def test_integer_input_defaults_to_raw_pixels_without_normalisation() -> None:
    card = resolve(("model", CardFields(layout=Layout.NHWC)), shape=(1, 128, 128, 3), integer=True)
    assert card.input_range is InputRange.RAW
    assert card.mean is None and card.std is None
    assert card.input_size == (128, 128)


def test_later_layers_win_and_provenance_says_which() -> None:
    card = resolve(
        ("model", CardFields(labels=["a", "b"], output_activation=OutputActivation.NONE)),
        ("card", CardFields(labels=["x", "y"], license="MIT")),
        ("user", CardFields(output_activation=OutputActivation.SOFTMAX)),
        classes=2,
    )
    assert card.labels == ("x", "y")
    assert card.output_activation is OutputActivation.SOFTMAX
    assert card.provenance == card.provenance | {
        "labels": "card",
        "license": "card",
        "output_activation": "user",
        "layout": "default",
    }


def test_explicit_range_does_not_pull_in_imagenet_statistics() -> None:
    card = resolve(("card", CardFields(input_range=InputRange.SYMMETRIC)))
    assert card.mean is None


def test_background_class_is_inferred_from_the_first_label() -> None:
    card = resolve(("model", CardFields(labels=["background", "cat"])), classes=2)
    assert card.background_class
    assert card.label(1) == "cat"
    assert resolve().label(7) == "class_7"


def test_input_size_contradicting_the_model_is_refused() -> None:
    with pytest.raises(ModelCardError, match=r"input_size \[300, 300\] \(from card\)"):
        resolve(("card", CardFields(input_size=300)))


def test_dynamic_spatial_axes_accept_any_card_size() -> None:
    card = resolve(("card", CardFields(input_size=(96, 128))), shape=(None, 3, None, None))
    assert card.input_size == (96, 128)


def test_label_count_mismatch_explains_background_classes() -> None:
    with pytest.raises(ModelCardError, match="number 1000.*outputs 1001") as info:
        resolve(("user", CardFields(labels=[f"l{i}" for i in range(1000)])), classes=1001)
    assert "background" in (info.value.hint or "")


def test_layout_that_puts_the_wrong_axis_in_channels_is_refused() -> None:
    with pytest.raises(ModelCardError, match="224 channels"):
        resolve(("user", CardFields(layout=Layout.NHWC)))


def test_non_image_inputs_are_refused() -> None:
    with pytest.raises(ModelCardError, match="4-D"):
        resolve(shape=(None, 10))


def test_mean_without_std_is_refused() -> None:
    with pytest.raises(ModelCardError, match="only one of mean and std"):
        resolve(("card", CardFields(input_range=InputRange.UNIT, mean=(0.5, 0.5, 0.5))))


def test_sidecar_reads_labels_file_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("cat\ndog\n\n")
    card_file = tmp_path / "m.card.toml"
    card_file.write_text('labels_file = "labels.txt"\nlicence = "Apache-2.0"\ninput_size = 96\n')
    fields = read_sidecar(card_file)
    assert fields.labels == ["cat", "dog"]
    assert fields.license == "Apache-2.0"
    assert fields.input_size == (96, 96)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('layout = "CHW"\n', "layout"),
        ("input_size = 0\n", "input_size"),
        ("std = [0, 1, 1]\n", "std"),
        ("colour = 1\n", "colour"),
        ("= broken", "Cannot read"),
    ],
)
def test_invalid_sidecars_name_the_field(tmp_path: Path, content: str, match: str) -> None:
    card_file = tmp_path / "m.card.toml"
    card_file.write_text(content)
    with pytest.raises(ModelCardError, match=match):
        read_sidecar(card_file)


def test_labels_files_keep_inner_blank_lines_and_refuse_empty(tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    path.write_text("\ufeffa\n\nc\n\n")
    assert read_labels(path) == ["a", "", "c"]
    path.write_text("\n\n")
    with pytest.raises(ModelCardError, match="no labels"):
        read_labels(path)
    with pytest.raises(ModelCardError, match="does not exist"):
        read_labels(tmp_path / "missing.txt")


def test_imagenet_synset_files_lose_their_wordnet_ids(tmp_path: Path) -> None:
    path = tmp_path / "synset.txt"
    path.write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n")
    assert read_labels(path) == ["tench, Tinca tinca", "goldfish, Carassius auratus"]
    path.write_text("n01440764 tench\nplain label\n")  # not every line: left alone
    assert read_labels(path) == ["n01440764 tench", "plain label"]


# Issue 12, item 9 (part): a model declaring a 60000x60000 input got a pydantic traceback.
def test_a_model_declaring_an_oversized_input_is_a_card_error_not_a_validation_error() -> None:
    # What every runtime's hints() does with the shape it reads off the model file.
    with pytest.raises(
        ModelCardError, match=r"input_size: \[60000, 60000\] is not between 1 and 8192"
    ) as info:
        CardFields.model_validate({"layout": "NCHW", "input_size": (60000, 60000)})
    assert "Traceback" not in str(info.value) and "Value error" not in str(info.value)
    assert "dynamic height and width" in (info.value.hint or "")


def test_an_oversized_fixed_input_shape_is_refused_when_resolving_the_card() -> None:
    with pytest.raises(
        ModelCardError, match=r"input_size \(from the model's input shape\) \[60000, 60000\]"
    ):
        resolve(shape=(None, 3, 60000, 60000))
    assert resolve(shape=(None, 3, 8192, 8192)).input_size == (8192, 8192)


def test_card_layers_still_name_where_they_came_from() -> None:
    with pytest.raises(
        ModelCardError, match=r"Invalid model card in m.card.toml: input_size: \[0, 0\]"
    ):
        parse_card_fields({"input_size": 0}, where="m.card.toml")
    assert CardFields.model_validate({"input_size": 96}).input_size == (96, 96)


def test_caffe_mode_from_the_model_layer_keeps_its_provenance(tmp_path: Path) -> None:
    caffe = CardFields(
        input_range=InputRange.RAW,
        channel_order="BGR",
        mean=(103.939, 116.779, 123.68),
        std=(1.0, 1.0, 1.0),
    )
    card = resolve(("model", caffe))
    assert card.channel_order == "BGR" and card.mean == (103.939, 116.779, 123.68)
    assert {card.provenance[f] for f in ("input_range", "channel_order", "mean", "std")} == {
        "model"
    }
    card_file = tmp_path / "m.card.toml"  # a sidecar says the same, and wins
    card_file.write_text('channel_order = "RGB"\n')
    card = resolve(("model", caffe), ("card", read_sidecar(card_file)))
    assert card.channel_order == "RGB" and card.provenance["channel_order"] == "card"

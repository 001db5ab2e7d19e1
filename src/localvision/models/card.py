"""Model cards: what the engine must know to run a model correctly.

A card is assembled from layers, later ones winning:

1. ``default``: the common conventions (uint8 input: raw 0..255; float input: 0..1 then
   ImageNet mean/std; centre crop; softmax applied only to outputs that are not already
   probabilities);
2. ``model``: what the model file itself says (input shape and dtype, embedded labels, ONNX
   metadata, a Keras ``Rescaling`` layer, a softmax output);
3. ``card``: the sidecar ``NAME.card.toml`` next to the model file;
4. ``user``: options given in code, on the command line or in ``localvision.toml``.

Each field remembers which layer it came from (:attr:`ModelCard.provenance`), so
``localvision models inspect`` can show what was inferred and what was only assumed.

Example sidecar ``mobilenet.card.toml``::

    labels_file = "imagenet_labels_1000.txt"
    input_range = "0..1"
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
    license = "Apache-2.0"
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ModelCardError

__all__ = [
    "CardFields",
    "InputRange",
    "Layout",
    "ModelCard",
    "OutputActivation",
    "ResizeMode",
    "find_sidecar",
    "read_labels",
    "read_sidecar",
    "resolve_card",
]

TASKS = ("classify", "detect")
DEFAULT_SCORE_THRESHOLD = 0.25
DEFAULT_IOU_THRESHOLD = 0.45
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = 224
MAX_INPUT_SIDE = 8192
"""The largest input side a card may hold: one 8192x8192 float input is already 800 MB."""


class Layout(enum.StrEnum):
    """Axis order of the image input tensor."""

    NCHW = "NCHW"
    NHWC = "NHWC"


class InputRange(enum.StrEnum):
    """How pixel values are scaled before mean/std: raw bytes, 0..1, or -1..1."""

    RAW = "0..255"
    UNIT = "0..1"
    SYMMETRIC = "-1..1"


class ResizeMode(enum.StrEnum):
    """How an image of any shape becomes the model's input size."""

    CENTER_CROP = "center_crop"
    LETTERBOX = "letterbox"
    STRETCH = "stretch"


class OutputActivation(enum.StrEnum):
    """What turns the model's outputs into scores in 0..1.

    ``auto`` applies softmax only when the outputs are not already in 0..1, so a model that
    ends in a softmax is never softmaxed twice.
    """

    AUTO = "auto"
    SOFTMAX = "softmax"
    SIGMOID = "sigmoid"
    NONE = "none"


class CardFields(BaseModel):
    """A partial card: any subset of fields, as one layer supplies them.

    ``input_size`` is ``[height, width]`` or one int for a square input.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    task: str | None = None
    name: str | None = None
    description: str | None = None
    labels: list[str] | None = None
    labels_file: str | None = None
    input_size: tuple[int, int] | None = None
    layout: Layout | None = None
    channel_order: str | None = Field(None, pattern="^(RGB|BGR)$")
    input_range: InputRange | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    resize: ResizeMode | None = None
    output_activation: OutputActivation | None = None
    multi_label: bool | None = None
    background_class: bool | None = None
    score_threshold: float | None = Field(None, ge=0, le=1)
    iou_threshold: float | None = Field(None, ge=0, le=1)
    detection_format: str | None = Field(
        None, pattern="^(auto|yolov8|yolov5|boxes_scores_classes)$"
    )
    license: str | None = Field(None, validation_alias=AliasChoices("license", "licence"))
    source: str | None = None

    @field_validator("input_size", mode="before")
    @classmethod
    def _square(cls, value: Any) -> Any:
        if isinstance(value, int):
            return (value, value)
        return value

    @classmethod
    def model_validate(cls, obj: Any, *, context: Any | None = None, **kwargs: Any) -> Self:
        """Validate ``obj`` as a card layer; any invalid field is a :class:`ModelCardError`.

        Every runtime builds its card hints from the model file through here, so a model that
        declares what no card may hold (a 60000x60000 input) is refused with one clear line
        instead of a pydantic traceback. ``context={"where": ...}`` names the source.
        """
        try:
            return super().model_validate(obj, context=context, **kwargs)
        except ValidationError as exc:
            where = context.get("where") if isinstance(context, dict) else None
            raise _card_error(exc, where) from exc

    @field_validator("input_size")
    @classmethod
    def _positive(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None:
            _check_input_size(value)
        return value

    @field_validator("std")
    @classmethod
    def _nonzero(cls, value: tuple[float, float, float] | None) -> Any:
        if value is not None and any(v == 0 for v in value):
            raise ValueError("std must not contain 0")
        return value

    def given(self) -> dict[str, Any]:
        """The fields this layer actually sets."""
        return self.model_dump(exclude_none=True, exclude={"labels_file"})


@dataclass(frozen=True)
class ModelCard:
    """A complete card: every field the engine needs, plus where each came from."""

    task: str
    input_size: tuple[int, int]
    layout: Layout
    channel_order: str
    input_range: InputRange
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    resize: ResizeMode
    output_activation: OutputActivation
    multi_label: bool
    background_class: bool
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    detection_format: str = "auto"
    labels: tuple[str, ...] | None = None
    name: str | None = None
    description: str | None = None
    license: str | None = None
    source: str | None = None
    provenance: dict[str, str] = field(default_factory=dict, compare=False)

    def label(self, index: int) -> str:
        """The name of output ``index``; ``class_<index>`` when the card has no labels."""
        if self.labels is not None and 0 <= index < len(self.labels):
            return self.labels[index]
        return f"class_{index}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, labels summarised by count and first entries."""
        out: dict[str, Any] = {}
        for key in _FIELD_ORDER:
            value = getattr(self, key)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple) and key != "labels":
                value = list(value)
            out[key] = value
        if self.labels is not None:
            out["labels"] = {"count": len(self.labels), "first": list(self.labels[:5])}
        out["provenance"] = dict(self.provenance)
        return out


_FIELD_ORDER = (
    "task",
    "name",
    "input_size",
    "layout",
    "channel_order",
    "input_range",
    "mean",
    "std",
    "resize",
    "output_activation",
    "multi_label",
    "background_class",
    "score_threshold",
    "iou_threshold",
    "detection_format",
    "labels",
    "license",
    "source",
    "description",
)


def parse_card_fields(data: dict[str, Any], *, where: str) -> CardFields:
    """Validate a mapping as a card layer, with a message naming ``where`` it came from."""
    return CardFields.model_validate(data, context={"where": where})


def _card_error(exc: ValidationError, where: str | None) -> ModelCardError:
    """One :class:`ModelCardError` listing every invalid field of a card layer."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'card'}: "
        + err["msg"].removeprefix("Value error, ")
        for err in exc.errors()
    )
    source = f" in {where}" if where else ""
    hint = None
    if any(err["loc"][:1] == ("input_size",) for err in exc.errors()):
        hint = _INPUT_SIZE_HINT
    return ModelCardError(f"Invalid model card{source}: {problems}.", hint=hint)


_INPUT_SIZE_HINT = (
    "Export the model with a smaller input, or with dynamic height and width and an "
    "input_size in its card."
)


def _check_input_size(size: Sequence[int]) -> None:
    """Refuse an input size outside 1..MAX_INPUT_SIDE pixels a side (a ValueError)."""
    if min(size) < 1 or max(size) > MAX_INPUT_SIDE:
        raise ValueError(f"{list(size)} is not between 1 and {MAX_INPUT_SIDE} pixels a side")


def find_sidecar(model_path: Path) -> Path | None:
    """``NAME.card.toml`` beside the model (``NAME`` with or without the model's suffix)."""
    for candidate in (
        model_path.with_name(model_path.stem + ".card.toml"),
        model_path.with_name(model_path.name + ".card.toml"),
    ):
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(path: Path) -> CardFields:
    """Read a card file; ``labels_file`` is resolved relative to the card and read."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelCardError(f"Cannot read model card {path}: {exc}.") from exc
    fields = parse_card_fields(data, where=str(path))
    if fields.labels_file and fields.labels is None:
        labels_path = Path(fields.labels_file)
        if not labels_path.is_absolute():
            labels_path = path.parent / labels_path
        fields = fields.model_copy(update={"labels": read_labels(labels_path)})
    return fields


def read_labels(path: str | Path) -> list[str]:
    """One label per line; blank lines at the end are ignored, blank lines inside are not."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ModelCardError(
            f"Labels file {file} does not exist.", hint="Check the --labels path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelCardError(f"Cannot read labels file {file}: {exc}.") from exc
    labels = parse_labels(text)
    if not labels:
        raise ModelCardError(f"Labels file {file} holds no labels.")
    return labels


def parse_labels(text: str) -> list[str]:
    """Split label-file text into labels, one per line, keeping inner blank lines.

    ImageNet synset files (``n01440764 tench, Tinca tinca``) lose their WordNet ids.
    """
    labels = [line.strip() for line in text.rstrip().splitlines()]
    if labels and all(_SYNSET.match(label) for label in labels if label):
        labels = [_SYNSET.sub("", label) for label in labels]
    return labels


_SYNSET = re.compile(r"^n\d{8}\s+")


def resolve_card(
    layers: Iterable[tuple[str, CardFields]],
    *,
    input_shape: tuple[int | None, ...],
    input_is_integer: bool,
    num_classes: int | None,
) -> ModelCard:
    """Merge ``(origin, fields)`` layers over the defaults and check them against the model.

    ``input_shape``: the model's image input shape, None for dynamic axes.
    ``input_is_integer``: the input tensor holds uint8/int8 pixels (its default range is raw).
    ``num_classes``: size of the classification output, to check the labels against.
    """
    merged: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    for origin, layer in layers:
        for key, value in layer.given().items():
            merged[key] = value
            provenance[key] = origin

    def default(key: str, value: Any) -> None:
        if key not in merged:
            merged[key] = value
            provenance[key] = "default"

    default("task", "classify")
    default("layout", Layout.NCHW)
    fixed_input_size = _check_input_shape(input_shape, Layout(merged["layout"]), provenance)
    default("input_size", fixed_input_size or (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE))
    default("channel_order", "RGB")
    if input_is_integer:
        default("input_range", InputRange.RAW)
    else:
        default("input_range", InputRange.UNIT)
        imagenet = merged["task"] == "classify"  # detectors (YOLO exports) take plain 0..1
        if (
            imagenet
            and merged["input_range"] == InputRange.UNIT
            and (provenance["input_range"] == "default")
        ):
            default("mean", IMAGENET_MEAN)
            default("std", IMAGENET_STD)
    default(
        "resize", ResizeMode.LETTERBOX if merged["task"] == "detect" else ResizeMode.CENTER_CROP
    )
    default("score_threshold", DEFAULT_SCORE_THRESHOLD)
    default("iou_threshold", DEFAULT_IOU_THRESHOLD)
    default("detection_format", "auto")
    default("output_activation", OutputActivation.AUTO)
    default("multi_label", merged.get("output_activation") == OutputActivation.SIGMOID)
    labels: list[str] | None = merged.get("labels")
    first = labels[0].strip().lower() if labels else ""
    default("background_class", first in ("background", "__background__"))
    if (merged.get("mean") is None) != (merged.get("std") is None):
        raise ModelCardError(
            "The model card sets only one of mean and std.", hint="Set both, or neither."
        )

    if fixed_input_size is not None and tuple(merged["input_size"]) != tuple(fixed_input_size):
        raise ModelCardError(
            f"The card's input_size {list(merged['input_size'])} "
            f"(from {provenance['input_size']}) contradicts the model's fixed input "
            f"{list(fixed_input_size)}.",
            hint="Remove input_size from the card or fix it to match the model.",
        )
    try:
        _check_input_size(merged["input_size"])
    except ValueError as exc:  # a fixed input shape the model's hints did not report
        origin = provenance["input_size"]
        if origin == "default":  # only a fixed shape can make the default too large
            origin = "the model's input shape"
        raise ModelCardError(
            f"The card's input_size (from {origin}) {exc}.", hint=_INPUT_SIZE_HINT
        ) from None
    if merged["task"] not in TASKS:
        raise ModelCardError(
            f"The card's task {merged['task']!r} is not one of: {', '.join(TASKS)}."
        )
    if (
        merged["task"] == "classify"
        and labels is not None
        and num_classes is not None
        and len(labels) != num_classes
    ):
        raise ModelCardError(
            f"The labels (from {provenance['labels']}) number {len(labels)}, "
            f"but the model outputs {num_classes} classes.",
            hint=_labels_hint(len(labels), num_classes),
        )
    return ModelCard(
        task=merged["task"],
        input_size=(int(merged["input_size"][0]), int(merged["input_size"][1])),
        layout=Layout(merged["layout"]),
        channel_order=merged["channel_order"],
        input_range=InputRange(merged["input_range"]),
        mean=_triple(merged.get("mean")),
        std=_triple(merged.get("std")),
        resize=ResizeMode(merged["resize"]),
        output_activation=OutputActivation(merged["output_activation"]),
        multi_label=bool(merged["multi_label"]),
        background_class=bool(merged["background_class"]),
        score_threshold=float(merged["score_threshold"]),
        iou_threshold=float(merged["iou_threshold"]),
        detection_format=str(merged["detection_format"]),
        labels=tuple(labels) if labels is not None else None,
        name=merged.get("name"),
        description=merged.get("description"),
        license=merged.get("license"),
        source=merged.get("source"),
        provenance=provenance,
    )


def _check_input_shape(
    shape: tuple[int | None, ...], layout: Layout, provenance: dict[str, str]
) -> tuple[int, int] | None:
    """Check the image input is 4-D with 1 or 3 channels where the layout puts them.

    Returns the ``(height, width)`` the shape fixes, if it fixes both.
    """
    if len(shape) != 4:
        raise ModelCardError(
            f"The model's input has shape {list(shape)}; an image model takes a 4-D input."
        )
    channels, height, width = (
        (shape[1], shape[2], shape[3]) if layout == Layout.NCHW else (shape[3], shape[1], shape[2])
    )
    if channels not in (None, 1, 3):
        raise ModelCardError(
            f"The layout {layout.value} (from {provenance.get('layout', 'default')}) puts "
            f"{channels} channels in the model's input shape {list(shape)}.",
            hint="Set layout to the model's real axis order (NCHW or NHWC) in its card.",
        )
    if height is None or width is None:
        return None
    return (height, width)


def _labels_hint(n_labels: int, n_classes: int) -> str:
    if n_classes == n_labels + 1:
        return "The model has a background class at index 0: add a 'background' first line."
    if n_labels == n_classes + 1:
        return "The labels start with a background class the model lacks: drop the first line."
    return "Use the labels file that belongs to this model."


def _triple(value: Sequence[float] | None) -> tuple[float, float, float] | None:
    if value is None:
        return None
    a, b, c = (float(v) for v in value)
    return (a, b, c)

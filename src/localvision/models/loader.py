"""Loading a model file: detect its format, open a runtime, and assemble its card."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ModelCardError
from .card import (
    CardFields,
    find_sidecar,
    parse_card_fields,
    read_labels,
    read_sidecar,
    resolve_card,
)
from .formats import detect_format, open_runtime
from .model import Model
from .runtime import Runtime, RuntimeOptions

__all__ = ["load_model"]


def load_model(
    path: str | os.PathLike[str],
    *,
    settings: Settings | None = None,
    card: CardFields | Mapping[str, Any] | None = None,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    name: str | None = None,
    allow_pickle: bool | None = None,
) -> Model:
    """Load the model at ``path`` with everything needed to run it correctly.

    ``card`` overrides card fields (as a mapping or :class:`CardFields`); ``labels`` is a labels
    file or a list of labels; ``allow_pickle`` (default: ``settings.allow_pickle``) permits
    pickled PyTorch files. Raises :class:`~localvision.errors.ModelError` subclasses naming the
    file and what to do.
    """
    settings = settings or Settings()
    file = Path(path).expanduser()
    fmt = detect_format(file)
    user = _user_fields(card, labels)
    sidecar_path = find_sidecar(file)
    sidecar = read_sidecar(sidecar_path) if sidecar_path else CardFields()
    options = RuntimeOptions(
        cache_dir=settings.cache_dir,
        providers=settings.providers,
        threads=settings.threads,
        spin=settings.spin,
        io_binding=settings.io_binding,
        allow_pickle=settings.allow_pickle if allow_pickle is None else allow_pickle,
        input_size=user.input_size or sidecar.input_size,
    )
    runtime = open_runtime(file, options, fmt)
    try:
        if not runtime.inputs or not runtime.outputs:
            raise ModelCardError(f"{file} has no inputs or no outputs.")
        spec = runtime.inputs[0]
        output_shape = runtime.outputs[0].shape
        hints = runtime.hints()
        if hints.task is None:
            hints = hints.model_copy(update={"task": infer_task(runtime)})
        resolved = resolve_card(
            [("model", hints), ("card", sidecar), ("user", user)],
            input_shape=spec.shape,
            input_is_integer=spec.is_integer,
            num_classes=output_shape[-1] if output_shape else None,
        )
    except BaseException:
        runtime.close()
        raise
    return Model(name=name or file.stem, path=file, format=fmt, runtime=runtime, card=resolved)


def infer_task(runtime: Runtime) -> str:
    """``detect`` for the output layouts of common detector exports, else ``classify``.

    A YOLO export has one 3-D output such as ``[1, 84, 8400]``; SSD-style exports have several
    outputs, one of them boxes ``[..., 4]``. A classifier has one ``[N, classes]`` output.
    """
    outputs = runtime.outputs
    if len(outputs) == 1:
        shape = outputs[0].shape
        if len(shape) == 3 and all(d is None or d >= 5 for d in shape[1:]):
            return "detect"
        return "classify"
    if any(len(o.shape) >= 2 and o.shape[-1] == 4 for o in outputs):
        return "detect"
    return "classify"


def _user_fields(
    card: CardFields | Mapping[str, Any] | None,
    labels: str | os.PathLike[str] | Sequence[str] | None,
) -> CardFields:
    fields = (
        card
        if isinstance(card, CardFields)
        else parse_card_fields(dict(card or {}), where="the card options given")
    )
    if labels is None and fields.labels_file and fields.labels is None:
        labels = fields.labels_file
    if labels is None:
        return fields
    if isinstance(labels, str | os.PathLike):
        values = read_labels(os.fspath(labels))
    else:
        values = [str(v) for v in labels]
    return fields.model_copy(update={"labels": values})

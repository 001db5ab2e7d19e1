"""The one table of tasks: which task answers each feature, and what it needs to run.

Every feature the engine can answer has one :class:`TaskEntry`. An entry says which task class
answers the feature and how to construct it, and whether it needs

* a user model (``from_model``), whose card must name ``card_task`` ("classify", "detect"), or
  is built in (``builtin``: plain computation, or a model that ships with a library);
* an optional dependency (``extra``): a check that it is installed, and the message and install
  hint given when it is not.

Adding a feature is adding an entry here; the engine builds its tasks from this table and the
errors it reports for features it cannot answer come from it too.

Availability is checked, never imported: ``faces_available`` and ``text_available`` look for
the package without loading it, so building the engine stays fast and a missing extra only
matters when its feature is asked for. (The tasks import their library when constructed or
first run.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import FeatureNotAvailableError, ModelCardError
from ..models.model import Model
from ..types import Feature
from .base import Task
from .classify import ClassifyTask
from .colors import ColorsTask
from .crop_hints import CropHintsTask
from .faces import FacesTask, faces_available
from .objects import ObjectsTask
from .text import TextTask, text_available

__all__ = [
    "BUILTIN_FEATURES",
    "MODEL_FEATURES",
    "TASKS",
    "Extra",
    "TaskEntry",
    "build_builtin_tasks",
    "build_model_task",
    "entry_for",
    "unavailable_error",
]


@dataclass(frozen=True)
class Extra:
    """An optional dependency (a pip extra of localvision) a task cannot run without."""

    name: str
    """The pip extra: ``pip install 'localvision[NAME]'``."""
    available: Callable[[], bool]
    """True when the dependency is installed; must not import it (it is checked at startup)."""
    message: str
    """What is reported when a feature needing it is requested but it is not installed."""

    @property
    def hint(self) -> str:
        """How to install it."""
        return f"pip install 'localvision[{self.name}]'"

    def missing_error(self) -> FeatureNotAvailableError:
        """The error for a request needing this extra while it is not installed."""
        return FeatureNotAvailableError(self.message, hint=self.hint)


BuiltinFactory = Callable[[Mapping[Feature, Task]], Task]
"""Builds a built-in task; it is given the built-in tasks built before it (entry order)."""


@dataclass(frozen=True)
class TaskEntry:
    """How one feature is answered: exactly one of ``from_model`` and ``builtin`` is set."""

    feature: Feature
    task_class: type[Task]
    """The class of the task answering ``feature``."""
    card_task: str | None = None
    """For model tasks: the ``task`` the model's card must name ("classify", "detect")."""
    from_model: Callable[[Model], Task] | None = None
    """For model tasks: builds the task around the user's model."""
    builtin: BuiltinFactory | None = None
    """For built-in tasks: builds the task (no user model)."""
    extra: Extra | None = None
    """The optional dependency the task needs, if any."""

    def __post_init__(self) -> None:
        if (self.from_model is None) == (self.builtin is None):
            raise ValueError(f"{self.feature.value}: set exactly one of from_model and builtin.")
        if (self.from_model is None) != (self.card_task is None):
            raise ValueError(f"{self.feature.value}: a model task names its card_task.")

    @property
    def needs_model(self) -> bool:
        """True when the feature is answered by a user model."""
        return self.from_model is not None


_FACES = Extra("faces", faces_available, "Face detection needs OpenCV, which is not installed.")
_OCR = Extra("ocr", text_available, "Text detection needs RapidOCR, which is not installed.")


def _crop_hints(built: Mapping[Feature, Task]) -> Task:
    # Crop hints weigh faces when the face detector is there; they share its instance.
    faces = built.get(Feature.FACES)
    return CropHintsTask(faces=faces if isinstance(faces, FacesTask) else None)


TASKS: tuple[TaskEntry, ...] = (
    TaskEntry(Feature.LABELS, ClassifyTask, card_task="classify", from_model=ClassifyTask),
    TaskEntry(Feature.OBJECTS, ObjectsTask, card_task="detect", from_model=ObjectsTask),
    TaskEntry(Feature.FACES, FacesTask, builtin=lambda _: FacesTask(), extra=_FACES),
    TaskEntry(Feature.COLORS, ColorsTask, builtin=lambda _: ColorsTask()),
    TaskEntry(Feature.CROP_HINTS, CropHintsTask, builtin=_crop_hints),  # after FACES
    TaskEntry(Feature.TEXT, TextTask, builtin=lambda _: TextTask(Feature.TEXT), extra=_OCR),
    TaskEntry(
        Feature.DOCUMENT_TEXT,
        TextTask,
        builtin=lambda _: TextTask(Feature.DOCUMENT_TEXT),
        extra=_OCR,
    ),
)
"""Every feature's entry, in the order built-in tasks are built."""

_BY_FEATURE: dict[Feature, TaskEntry] = {entry.feature: entry for entry in TASKS}

MODEL_FEATURES: tuple[Feature, ...] = tuple(e.feature for e in TASKS if e.needs_model)
"""Features answered with a user model, in table order."""

BUILTIN_FEATURES: frozenset[Feature] = frozenset(e.feature for e in TASKS if not e.needs_model)
"""Features answered without a user model (faces and text with their extras installed)."""


def entry_for(feature: Feature) -> TaskEntry | None:
    """The entry for ``feature``; None when nothing can answer it."""
    return _BY_FEATURE.get(feature)


def build_model_task(feature: Feature, model: Model) -> Task:
    """The task answering ``feature`` with ``model``, checking the model's card fits it."""
    entry = _BY_FEATURE.get(feature)
    if entry is None or entry.from_model is None:
        raise FeatureNotAvailableError(
            f"localvision cannot answer {feature.value!r} with a model yet.",
            hint=f"Supported with a model: {', '.join(f.value for f in MODEL_FEATURES)}.",
        )
    wanted = entry.card_task
    if model.card.task != wanted:
        raise ModelCardError(
            f"Model {model.name!r} is a {model.card.task} model; {feature.value!r} needs a "
            f"{wanted} model.",
            hint=f'If the card is wrong, set task = "{wanted}" in its .card.toml.',
        )
    return entry.from_model(model)


def build_builtin_tasks() -> dict[Feature, Task]:
    """The built-in tasks whose extras are installed, one instance per feature.

    Each extra's availability is checked once, however many features need it.
    """
    available: dict[str, bool] = {}
    tasks: dict[Feature, Task] = {}
    for entry in TASKS:
        if entry.builtin is None:
            continue
        extra = entry.extra
        if extra is not None:
            if extra.name not in available:
                available[extra.name] = extra.available()
            if not available[extra.name]:
                continue
        tasks[entry.feature] = entry.builtin(tasks)
    return tasks


def unavailable_error(feature: Feature) -> FeatureNotAvailableError:
    """Why an engine cannot answer ``feature``: a missing extra, or no model configured."""
    entry = _BY_FEATURE.get(feature)
    if entry is not None and entry.extra is not None:
        return entry.extra.missing_error()
    return FeatureNotAvailableError(
        f"No model is configured for {feature.value!r}.",
        hint=f'Configure one: [features] {feature.value} = "NAME" in localvision.toml, '
        "or --model on the command line.",
    )

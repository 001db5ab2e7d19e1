"""The task registry: one entry per feature, and the engine built from it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, cast

import pytest

from localvision.engine import BUILTIN_FEATURES, LocalEngine, task_for
from localvision.errors import FeatureNotAvailableError, ModelCardError
from localvision.models.card import TASKS as CARD_TASKS
from localvision.models.model import Model
from localvision.tasks import registry
from localvision.tasks.base import Task
from localvision.tasks.classify import ClassifyTask
from localvision.tasks.colors import ColorsTask
from localvision.tasks.crop_hints import CropHintsTask
from localvision.tasks.objects import ObjectsTask
from localvision.tasks.text import TextTask
from localvision.types import AnnotateRequest, Feature, FeatureRequest


def fake_model(task: str, name: str = "m") -> Model:
    return cast(Model, SimpleNamespace(name=name, card=SimpleNamespace(task=task)))


def test_every_feature_has_exactly_one_entry() -> None:
    features = [entry.feature for entry in registry.TASKS]
    assert len(features) == len(set(features))
    assert set(features) == set(Feature)
    for feature in Feature:
        entry = registry.entry_for(feature)
        assert entry is not None and entry.feature is feature


def test_entries_name_their_task_class_and_how_to_build_it() -> None:
    classes = {entry.feature: entry.task_class for entry in registry.TASKS}
    assert classes[Feature.LABELS] is ClassifyTask
    assert classes[Feature.OBJECTS] is ObjectsTask
    assert classes[Feature.COLORS] is ColorsTask
    assert classes[Feature.CROP_HINTS] is CropHintsTask
    assert classes[Feature.TEXT] is TextTask and classes[Feature.DOCUMENT_TEXT] is TextTask
    for entry in registry.TASKS:
        assert (entry.from_model is None) != (entry.builtin is None)
        assert entry.needs_model == (entry.card_task is not None)
        assert entry.card_task is None or entry.card_task in CARD_TASKS


def test_an_entry_must_say_how_it_is_built() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        registry.TaskEntry(Feature.COLORS, ColorsTask)
    with pytest.raises(ValueError, match="card_task"):
        registry.TaskEntry(Feature.LABELS, ClassifyTask, from_model=ClassifyTask)


def test_model_and_builtin_features_are_what_they_were() -> None:
    assert registry.MODEL_FEATURES == (Feature.LABELS, Feature.OBJECTS)
    expected = {Feature.COLORS, Feature.CROP_HINTS, Feature.FACES, Feature.TEXT}
    assert frozenset({*expected, Feature.DOCUMENT_TEXT}) == BUILTIN_FEATURES
    assert registry.BUILTIN_FEATURES is BUILTIN_FEATURES
    card_tasks = {e.feature: e.card_task for e in registry.TASKS if e.needs_model}
    assert card_tasks == {Feature.LABELS: "classify", Feature.OBJECTS: "detect"}


@pytest.mark.parametrize("feature", sorted(BUILTIN_FEATURES))
def test_a_feature_without_model_support_gives_the_same_error(feature: Feature) -> None:
    with pytest.raises(FeatureNotAvailableError) as caught:
        task_for(feature, fake_model("classify"))
    assert caught.value.message == f"localvision cannot answer {feature.value!r} with a model yet."
    assert caught.value.hint == "Supported with a model: labels, objects."


def test_a_model_of_the_wrong_task_is_a_card_error() -> None:
    with pytest.raises(ModelCardError) as caught:
        task_for(Feature.OBJECTS, fake_model("classify", name="colours"))
    assert caught.value.message == (
        "Model 'colours' is a classify model; 'objects' needs a detect model."
    )
    assert caught.value.hint == 'If the card is wrong, set task = "detect" in its .card.toml.'
    with pytest.raises(ModelCardError, match="'labels' needs a classify model"):
        task_for(Feature.LABELS, fake_model("detect"))


@pytest.mark.parametrize(
    ("feature", "message", "hint"),
    [
        (
            Feature.FACES,
            "Face detection needs OpenCV, which is not installed.",
            "pip install 'localvision[faces]'",
        ),
        (
            Feature.TEXT,
            "Text detection needs RapidOCR, which is not installed.",
            "pip install 'localvision[ocr]'",
        ),
        (
            Feature.DOCUMENT_TEXT,
            "Text detection needs RapidOCR, which is not installed.",
            "pip install 'localvision[ocr]'",
        ),
        (
            Feature.LABELS,
            "No model is configured for 'labels'.",
            'Configure one: [features] labels = "NAME" in localvision.toml, '
            "or --model on the command line.",
        ),
        (
            Feature.OBJECTS,
            "No model is configured for 'objects'.",
            'Configure one: [features] objects = "NAME" in localvision.toml, '
            "or --model on the command line.",
        ),
    ],
)
def test_unavailable_features_give_the_same_messages(
    feature: Feature, message: str, hint: str
) -> None:
    error = registry.unavailable_error(feature)
    assert isinstance(error, FeatureNotAvailableError)
    assert (error.message, error.hint) == (message, hint)


def test_the_engine_reports_a_feature_it_cannot_answer_on_the_image() -> None:
    request = AnnotateRequest(b"not decoded", [FeatureRequest(Feature.LABELS)], name="x")
    with LocalEngine({}) as engine:
        (result,) = engine.annotate([request])
        assert engine.features == frozenset(registry.build_builtin_tasks())
    assert isinstance(result.error, FeatureNotAvailableError)
    assert result.error.message == "No model is configured for 'labels'."


def _with_extras(monkeypatch: pytest.MonkeyPatch, **installed: bool) -> list[str]:
    """Replace each extra's availability check; returns the names of the checks made."""
    checks: list[str] = []

    def check(name: str) -> Any:
        def available() -> bool:
            checks.append(name)
            return installed[name]

        return available

    entries = [
        entry
        if entry.extra is None
        else dataclasses.replace(
            entry, extra=dataclasses.replace(entry.extra, available=check(entry.extra.name))
        )
        for entry in registry.TASKS
    ]
    monkeypatch.setattr(registry, "TASKS", tuple(entries))
    return checks


def test_builtin_tasks_skip_missing_extras_checking_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks = _with_extras(monkeypatch, faces=False, ocr=False)
    tasks = registry.build_builtin_tasks()
    assert set(tasks) == {Feature.COLORS, Feature.CROP_HINTS}
    assert sorted(checks) == ["faces", "ocr"]
    crop_hints = tasks[Feature.CROP_HINTS]
    assert isinstance(crop_hints, CropHintsTask) and crop_hints.faces is None


def test_text_tasks_are_one_per_feature_and_import_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_extras(monkeypatch, faces=False, ocr=True)
    tasks = registry.build_builtin_tasks()
    text, document = tasks[Feature.TEXT], tasks[Feature.DOCUMENT_TEXT]
    assert isinstance(text, TextTask) and isinstance(document, TextTask)
    assert (text.feature, document.feature) == (Feature.TEXT, Feature.DOCUMENT_TEXT)
    assert text is not document


def test_crop_hints_share_the_face_detector() -> None:
    pytest.importorskip("cv2", reason="the faces extra (OpenCV) detects faces")
    tasks = registry.build_builtin_tasks()
    crop_hints: Task = tasks[Feature.CROP_HINTS]
    assert isinstance(crop_hints, CropHintsTask)
    assert crop_hints.faces is tasks[Feature.FACES]


def test_building_the_engine_does_not_import_the_ocr_library() -> None:
    code = (
        "import sys\n"
        "import localvision.tasks.registry\n"
        "assert 'cv2' not in sys.modules and 'rapidocr' not in sys.modules\n"
        "from localvision.engine import LocalEngine\n"
        "LocalEngine({}).close()\n"
        "assert 'rapidocr' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

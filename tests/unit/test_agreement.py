"""The agreement measures shared by compare --measure-cloud and shadow mode."""

from __future__ import annotations

import pytest

from localvision.metrics.agreement import agreement, edit_distance
from localvision.types import AnnotateResult, Face, Label, TextLine

BOX = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("kitten", "sitting", 3), ("abc", "", 3), ("", "ab", 2), ("same", "same", 0)],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance == edit_distance(b, a)


def test_agreement_over_the_features_both_answered() -> None:
    def labels(*names: str) -> list[Label]:
        return [Label(n, 0.9) for n in names]

    face = Face(left=0, top=0, right=1, bottom=1, confidence=0.9)
    local = [
        AnnotateResult(labels=labels("cat"), text=[TextLine("hello", 1.0, BOX)]),
        AnnotateResult(labels=labels("dog"), faces=[face]),
    ]
    cloud = [
        AnnotateResult(labels=labels("Cat", "pet"), text=[TextLine("hallo", 1.0, BOX)]),
        AnnotateResult(labels=labels("wolf", "dog"), faces=[face, face]),
    ]
    assert agreement(local, cloud) == {
        "label_top1": 0.5,  # case-insensitive: cat == Cat
        "label_top5": 1.0,
        "text_cer": pytest.approx(0.2),
        "face_count": 0.0,
    }
    assert agreement([AnnotateResult()], [AnnotateResult(labels=labels("x"))]) == {}

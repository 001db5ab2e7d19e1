"""The agreement measures shared by compare --measure-cloud and shadow mode."""

from __future__ import annotations

import random

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


def reference_distance(a: str, b: str) -> int:
    """The textbook dynamic-programming table (what agreement.py computed by hand before)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_edit_distance_matches_the_dynamic_programming_table() -> None:
    rng = random.Random(4)
    alphabet = "ab c\nÄé😀中"  # code points beyond Latin-1 and the BMP count as one character
    for _ in range(200):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert edit_distance(a, b) == reference_distance(a, b)
    page = "".join(rng.choice(alphabet) for _ in range(300))
    noisy = "".join(c if rng.random() > 0.1 else rng.choice(alphabet) for c in page)
    assert edit_distance(page, noisy) == reference_distance(page, noisy)


def test_edit_distance_is_rapidfuzz(monkeypatch: pytest.MonkeyPatch) -> None:
    from rapidfuzz.distance import Levenshtein

    calls: list[tuple[str, str]] = []

    def spy(a: str, b: str) -> int:
        calls.append((a, b))
        return 7

    monkeypatch.setattr(Levenshtein, "distance", spy)
    assert edit_distance("kitten", "sitting") == 7 and calls == [("kitten", "sitting")]


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

from __future__ import annotations

import numpy as np
import pytest

from localvision.models.card import CardFields, ModelCard, OutputActivation, resolve_card
from localvision.tasks.classify import scores, top_labels


def card(**fields: object) -> ModelCard:
    return resolve_card(
        [("user", CardFields.model_validate(fields))],
        input_shape=(None, 3, 224, 224),
        input_is_integer=False,
        num_classes=None,
    )


def test_probabilities_are_never_softmaxed_twice() -> None:
    probs = np.array([0.7, 0.2, 0.1])
    assert scores(probs, card()) == pytest.approx(probs)


def test_logits_get_softmax() -> None:
    out = scores(np.array([2.0, 1.0, -3.0]), card())
    assert out.sum() == pytest.approx(1.0)
    assert out[0] == pytest.approx(np.exp(2) / (np.exp(2) + np.exp(1) + np.exp(-3)))


def test_multi_label_logits_get_sigmoid() -> None:
    out = scores(np.array([0.0, 4.0, -4.0]), card(multi_label=True))
    assert out == pytest.approx([0.5, 0.98201379, 0.01798621])


def test_explicit_activation_wins_over_auto() -> None:
    out = scores(np.array([0.5, 0.5]), card(output_activation="softmax"))
    assert out == pytest.approx([0.5, 0.5])
    out = scores(np.array([2.0, -1.0]), card(output_activation=OutputActivation.NONE))
    assert out == pytest.approx([1.0, 0.0])  # clipped into 0..1


def test_top_k_order_min_score_and_zero_scores() -> None:
    c = card(labels=["a", "b", "c", "d"])
    probs = np.array([0.1, 0.6, 0.3, 0.0])
    assert [(lab.name, lab.index) for lab in top_labels(probs, c, top_k=2)] == [("b", 1), ("c", 2)]
    assert [lab.name for lab in top_labels(probs, c, top_k=4)] == ["b", "c", "a"]
    assert [lab.name for lab in top_labels(probs, c, top_k=4, min_score=0.25)] == ["b", "c"]


def test_background_class_is_never_reported() -> None:
    c = card(labels=["background", "cat", "dog"])
    labels = top_labels(np.array([0.9, 0.06, 0.04]), c, top_k=3)
    assert [lab.name for lab in labels] == ["cat", "dog"]

from __future__ import annotations

import numpy as np
import pytest

from localvision.training.head import HeadTrainer


def blobs(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 5, 1], [5, 0, 0, 1], [0, 5, 0, 1]], float) * 3
    y = rng.integers(0, 3, n)
    return centres[y] + rng.normal(0, 1, (n, 4)), y


@pytest.mark.parametrize("hidden", [0, 16])
def test_separable_classes_are_learned(hidden: int) -> None:
    x, y = blobs(0)
    xv, yv = blobs(1)
    head = HeadTrainer(hidden=hidden, epochs=200, seed=3).fit(x, y, xv, yv, classes=3)
    assert (head.predict_proba(xv).argmax(1) == yv).mean() >= 0.95
    assert head.predict_proba(xv).sum(axis=1) == pytest.approx(np.ones(len(xv)))


def test_training_is_deterministic_given_the_seed() -> None:
    x, y = blobs(0)
    first = HeadTrainer(seed=7).fit(x, y, x, y, classes=3).folded()
    second = HeadTrainer(seed=7).fit(x, y, x, y, classes=3).folded()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_folded_weights_reproduce_the_standardised_head() -> None:
    x, y = blobs(0)
    head = HeadTrainer(seed=1).fit(x, y, x, y, classes=3)
    weight, bias = head.folded()
    logits = x.astype(np.float32) @ weight + bias
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    assert probs == pytest.approx(head.predict_proba(x), abs=1e-4)


def test_class_weights_keep_a_rare_class() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, (95, 2)), rng.normal(4, 1, (5, 2))])
    y = np.array([0] * 95 + [1] * 5)
    head = HeadTrainer(seed=0).fit(x, y, x, y, classes=2)
    assert (head.predict_proba(x[95:]).argmax(1) == 1).mean() >= 0.8

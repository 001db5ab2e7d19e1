from __future__ import annotations

import numpy as np
import pytest

from localvision.training.head import LINEAR_GRID, HeadTrainer

pytest.importorskip("sklearn", reason="the train extra fits heads with scikit-learn")
from sklearn.linear_model import LogisticRegression


def blobs(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 5, 1], [5, 0, 0, 1], [0, 5, 0, 1]], float) * 3
    y = rng.integers(0, 3, n)
    return centres[y] + rng.normal(0, 1, (n, 4)), y


def few_shot(
    seed: int, classes: int = 10, shots: int = 5, tests: int = 40, dims: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Classes that differ in a quarter of the features, noise in all of them (as pooled CNN
    features are), ``shots`` training images a class."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1, (classes, dims)) * (rng.random(dims) < 0.25)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(classes), count)
        return means[y] + rng.normal(0, 1.2, (len(y), dims)) + 2.0, y

    x, y = draw(shots)
    xt, yt = draw(tests)
    return x, y, xt, yt


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean())


@pytest.mark.parametrize("hidden", [0, 16])
def test_separable_classes_are_learned(hidden: int) -> None:
    x, y = blobs(0)
    xv, yv = blobs(1)
    head = HeadTrainer(hidden=hidden, seed=3).fit(x, y, classes=3)
    assert accuracy(head.predict_proba(xv), yv) >= 0.95
    assert head.predict_proba(xv).sum(axis=1) == pytest.approx(np.ones(len(xv)))
    assert head.validation_score_ is not None and head.validation_score_ >= 0.95


def test_few_shot_accuracy_reaches_a_reference_logistic_regression() -> None:
    ours, theirs = [], []
    for seed in range(5):  # 10 classes, 5 images each, 400 test images: five such problems
        x, y, xt, yt = few_shot(seed)
        reference = LogisticRegression(max_iter=5000).fit(x, y)  # on the very same features
        head = HeadTrainer().fit(x, y, classes=10)
        ours.append(accuracy(head.predict_proba(xt), yt))
        theirs.append(reference.score(xt, yt))
        assert ours[-1] >= theirs[-1] - 0.02  # never clearly worse (0.02: 8 of 400 images)
    assert np.mean(ours) >= np.mean(theirs)  # and at least as good overall
    assert np.mean(ours) >= 0.6


def test_cross_validation_picks_c_then_refits_on_every_sample() -> None:
    x, y = blobs(4, n=14)  # a tiny set: classes of 3 to 6 images
    counts = np.bincount(y)
    head = HeadTrainer(regularization=(1e-6, 1.0)).fit(x, y, classes=3)
    # k is limited by the smallest class; every image was scored once, out of fold.
    assert head.folds_ == min(5, counts.min()) and head.validation_images_ == len(x)
    # C=1e-6 ranks the classes as well but with flat probabilities: the log-loss decides.
    (weak, weak_score, weak_loss), (strong, strong_score, strong_loss) = head.scores_
    assert (weak, strong) == (1e-6, 1.0) and head.value_ == 1.0
    assert strong_score >= weak_score and strong_loss < weak_loss
    assert head.validation_score_ == strong_score
    # The final model is C=1 fitted on all 14 samples, not on a fold.
    final = head.estimator_
    assert final.n_features_in_ == 4 and final.coef_.shape == (3, 4) and final.C == 1.0
    centred = x - x.mean(0)
    standardised = centred / (np.sqrt((centred**2).mean()) + 1e-6)  # one scale for all
    np.testing.assert_allclose((x - head.mean_) / head.std_, standardised)
    refit = LogisticRegression(C=1.0, class_weight="balanced", max_iter=300).fit(standardised, y)
    np.testing.assert_allclose(final.coef_, refit.coef_, rtol=1e-6, atol=1e-8)
    assert (head.predict_proba(x).argmax(1) == y).all()  # every training point right


def test_the_default_grid_is_searched() -> None:
    x, y = blobs(0)
    head = HeadTrainer().fit(x, y, classes=3)
    assert [value for value, _, _ in head.scores_] == list(LINEAR_GRID)
    assert head.value_ in LINEAR_GRID and head.folds_ == 5 and head.converged_


def test_large_sets_use_one_stratified_hold_out() -> None:
    x, y = blobs(0, n=100)
    head = HeadTrainer(cv_limit=50, holdout=0.2).fit(x, y, classes=3)
    assert head.folds_ == 1 and head.validation_images_ == 20
    assert head.estimator_.n_features_in_ == 4 and accuracy(head.predict_proba(x), y) >= 0.95


def test_too_few_images_to_split_still_fit() -> None:
    x = np.array([[0.0, 1.0], [1.0, 0.0]])
    head = HeadTrainer().fit(x, np.array([0, 1]), classes=2)
    assert head.folds_ == 0 and head.validation_score_ is None
    assert (head.predict_proba(x).argmax(1) == [0, 1]).all()


@pytest.mark.parametrize("hidden", [0, 16])
def test_training_is_deterministic_given_the_seed(hidden: int) -> None:
    x, y = blobs(0)
    first = HeadTrainer(hidden=hidden, seed=7).fit(x, y, classes=3).folded()
    second = HeadTrainer(hidden=hidden, seed=7).fit(x, y, classes=3).folded()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("classes", [2, 3])
def test_folded_weights_reproduce_the_head_and_scikit_learn(classes: int) -> None:
    x, y = blobs(0)
    keep = y < classes
    x, y = x[keep], y[keep]
    head = HeadTrainer(seed=1).fit(x, y, classes=classes)
    weight, bias = head.folded()
    assert weight.shape == (4, classes) and bias.shape == (classes,)
    probs = softmax(x.astype(np.float32) @ weight + bias)
    assert probs == pytest.approx(head.predict_proba(x), abs=1e-4)
    standardised = (x - head.mean_) / head.std_
    np.testing.assert_allclose(
        head.predict_proba(x), head.estimator_.predict_proba(standardised), atol=1e-9
    )


@pytest.mark.parametrize("classes", [2, 3])
def test_the_mlp_is_one_hidden_relu_layer_scikit_learn_agrees_with(classes: int) -> None:
    x, y = blobs(0)
    keep = y < classes
    x, y = x[keep], y[keep]
    head = HeadTrainer(hidden=8, seed=1, regularization=(0.1, 1.0)).fit(x, y, classes=classes)
    w1, b1, w2, b2 = head.folded()
    assert w1.shape == (4, 8) and b1.shape == (8,) and w2.shape == (8, classes)
    probs = softmax(np.maximum(0, x.astype(np.float32) @ w1 + b1) @ w2 + b2)
    assert probs == pytest.approx(head.predict_proba(x), abs=1e-4)
    standardised = (x - head.mean_) / head.std_
    np.testing.assert_allclose(
        head.predict_proba(x), head.estimator_.predict_proba(standardised), atol=1e-9
    )


def test_a_class_without_images_is_never_predicted() -> None:
    x, y = blobs(0)
    head = HeadTrainer().fit(x, y, classes=4)  # class 3 listed, no image of it
    probs = head.predict_proba(x)
    assert probs.shape == (60, 4) and probs[:, 3].max() < 1e-9
    assert accuracy(probs, y) >= 0.95


def imbalanced(seed: int, majority: int, minority: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, (majority, 2)), rng.normal([1.5, 1.5], 1, (minority, 2))])
    return x, np.array([0] * majority + [1] * minority)


@pytest.mark.parametrize("hidden", [0, 8])
def test_class_weights_keep_a_rare_class(hidden: int) -> None:
    # Overlapping classes, 95 to 5: unweighted, the rare class is seldom the answer (measured
    # recall on 400 fresh rare images: 0.37 linear, 0.06 MLP; weighted 0.78 and 0.89).
    x, y = imbalanced(2, 95, 5)
    rare, _ = imbalanced(3, 0, 400)
    weighted = HeadTrainer(hidden=hidden, seed=0).fit(x, y, classes=2)
    plain = HeadTrainer(hidden=hidden, seed=0, class_weight=False).fit(x, y, classes=2)
    weighted_recall = (weighted.predict_proba(rare).argmax(1) == 1).mean()
    plain_recall = (plain.predict_proba(rare).argmax(1) == 1).mean()
    assert weighted_recall >= 0.7
    assert plain_recall <= weighted_recall - 0.3


def test_multi_label_is_one_sigmoid_per_label() -> None:
    x, y = blobs(0, n=90)
    targets = np.zeros((90, 4), np.float32)  # label 3 never occurs
    targets[np.arange(90), y] = 1.0
    targets[:, 2] = np.maximum(targets[:, 2], targets[:, 0])  # 0 always comes with 2
    head = HeadTrainer(multi_label=True).fit(x, targets, classes=4)
    probs = head.predict_proba(x)
    assert ((probs >= 0.5) == (targets > 0.5)).mean() >= 0.97
    assert probs[:, 3].max() < 1e-9 and head.validation_score_ is not None
    assert head.validation_score_ >= 0.9  # micro-F1, cross-validated
    weight, bias = head.folded()
    sigmoid = 1 / (1 + np.exp(-(x.astype(np.float32) @ weight + bias)))
    assert sigmoid == pytest.approx(probs, abs=1e-4)
    mlp = HeadTrainer(multi_label=True, hidden=8, regularization=(1.0,)).fit(x, targets, classes=4)
    assert ((mlp.predict_proba(x) >= 0.5) == (targets > 0.5)).mean() >= 0.97

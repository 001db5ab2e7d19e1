"""Classification heads fitted with scikit-learn: logistic regression, or a small MLP when asked.

Follows the estimator contract: ``__init__`` stores parameters, ``fit`` returns ``self``,
learned state ends in ``_``.

- **Linear** (``hidden=0``, the default): L2-regularised logistic regression fitted with L-BFGS
  (multinomial; one-vs-rest per label for multi-label data). **MLP** (``hidden > 0``): one
  hidden layer of ReLU units (scikit-learn's ``MLPClassifier``, Adam, L2 ``alpha``).
- Features are centred and scaled by one number, their overall standard deviation (folded
  into the first layer by :meth:`HeadTrainer.folded`), and single-label classes are weighted
  inversely to their frequency.
- The regularisation strength is chosen from a small grid by stratified k-fold
  cross-validation (``k`` at most ``folds`` and at most the smallest class's image count), by
  accuracy (micro-F1 at 0.5 for multi-label), ties broken by the lower log-loss. Sets larger
  than ``cv_limit`` use one stratified hold-out of ``holdout`` instead. The chosen value is then
  refitted on **every** image, and the cross-validated score is :attr:`validation_score_`.
- The fitted head is plain arrays: ``[W, b]`` (linear) or ``[W1, b1, W2, b2]`` (MLP), logits
  followed by softmax (sigmoid for multi-label), exactly what ``graph.merge_head`` appends.
- Deterministic given ``seed``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..optional import import_optional

__all__ = ["LINEAR_GRID", "MLP_GRID", "HeadTrainer"]

Array = np.ndarray[Any, Any]

LINEAR_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
"""Inverse regularisation strengths ``C`` tried for the logistic regression."""
MLP_GRID = (0.01, 0.1, 1.0, 10.0)
"""L2 penalties ``alpha`` tried for the MLP."""

_NEVER = 30.0  # a logit margin that makes a probability 0 or 1 to float precision


def _sklearn(module: str) -> Any:
    return import_optional(module, extra="train", purpose="train a classification head")


class HeadTrainer:
    """Fits ``features -> class probabilities``; see the module docstring.

    After :meth:`fit`: ``mean_`` and ``std_`` (the standardisation), ``params_`` (the layers,
    on standardised features), ``estimator_`` (the final scikit-learn model, fitted on every
    sample; a list of per-label models, ``None`` for constant labels, for a multi-label linear
    head), ``value_`` (the chosen ``C`` or ``alpha``), ``scores_`` (``(value, score, log-loss)``
    per grid value), ``validation_score_`` (the chosen value's cross-validated accuracy or
    micro-F1; ``None`` when the set is too small to split), ``validation_images_`` (how many
    images that score was measured on), ``folds_`` (``k``; 1 for a hold-out, 0 for none),
    ``n_iter_`` and ``converged_`` (of the final fit).
    """

    def __init__(
        self,
        *,
        hidden: int = 0,
        multi_label: bool = False,
        max_iter: int = 300,
        regularization: Sequence[float] | None = None,
        folds: int = 5,
        cv_limit: int = 2000,
        holdout: float = 0.2,
        class_weight: bool = True,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.multi_label = multi_label
        self.max_iter = max_iter
        self.regularization = regularization
        self.folds = folds
        self.cv_limit = cv_limit
        self.holdout = holdout
        self.class_weight = class_weight
        self.seed = seed

    @property
    def kind(self) -> str:
        return "mlp" if self.hidden else "logistic_regression"

    @property
    def grid(self) -> tuple[float, ...]:
        if self.regularization is not None:
            return tuple(float(v) for v in self.regularization)
        return MLP_GRID if self.hidden else LINEAR_GRID

    def fit(
        self,
        x: Array,
        y: Array,
        classes: int,
        *,
        on_fit: Callable[[int, int], None] | None = None,
    ) -> HeadTrainer:
        """Fit on ``x`` (``[N, D]``) and ``y`` (class indices, or a ``[N, classes]`` 0/1 matrix
        when multi-label). ``on_fit(done, total)`` is called after each model fitted."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        y = (y > 0.5).astype(np.int64) if self.multi_label else y.astype(np.int64)
        self.classes_ = classes
        grid = self.grid
        if not grid:
            raise ValueError("The regularisation grid is empty.")
        splits = self._splits(y)
        total = len(grid) * len(splits) + 1
        done = 0

        def advanced() -> None:
            nonlocal done
            done += 1
            if on_fit is not None:
                on_fit(done, total)

        # One BLAS thread: these matrices are small, and threads waiting on each other cost
        # more than they bring (2,000 images of 1,280 features, 37 classes: 3.0 s against 8.3 s
        # on 2 cores), the more so on a busy machine.
        limits = _sklearn("threadpoolctl").threadpool_limits(limits=1)
        with limits, warnings.catch_warnings():
            # Non-convergence is recorded in converged_; a fold short of some class is expected
            # when a class has fewer images than there are folds.
            warnings.simplefilter("ignore", _sklearn("sklearn.exceptions").ConvergenceWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
            self.scores_: list[tuple[float, float, float]] = []
            if splits:
                for value in grid:
                    probs = np.zeros((len(x), classes))
                    tested = np.zeros(len(x), bool)
                    for train, test in splits:
                        mean, std = _moments(x[train])
                        params, _, _ = self._fit_one((x[train] - mean) / std, y[train], value)
                        probs[test] = self._forward(params, (x[test] - mean) / std)
                        tested[test] = True
                        advanced()
                    score, loss = self._score(probs[tested], y[tested])
                    self.scores_.append((value, score, loss))
                best = min(self.scores_, key=lambda s: (-s[1], s[2]))
                self.value_ = best[0]
                self.validation_score_: float | None = best[1]
                self.validation_images_ = int(tested.sum())
            else:
                self.value_ = grid[len(grid) // 2]
                self.validation_score_ = None
                self.validation_images_ = 0
            self.mean_, self.std_ = _moments(x)
            xs = (x - self.mean_) / self.std_
            self.params_, self.n_iter_, self.estimator_ = self._fit_one(xs, y, self.value_)
            advanced()
        self.converged_ = self.n_iter_ < self.max_iter
        self.folds_ = 0 if not splits else len(splits)
        return self

    def predict_proba(self, x: Array) -> Array:
        return self._forward(self.params_, (np.asarray(x, np.float64) - self.mean_) / self.std_)

    def folded(self) -> list[Array]:
        """Parameters with the standardisation folded into the first layer, float32."""
        first_w, first_b, *rest = self.params_
        weight = first_w / self.std_[:, None]
        bias = first_b - (self.mean_ / self.std_) @ first_w
        return [p.astype(np.float32) for p in (weight, bias, *rest)]

    # ------------------------------------------------------------------ internals

    def _splits(self, y: Array) -> list[tuple[Array, Array]]:
        """Cross-validation folds (or one hold-out) over sample indices; [] when too few."""
        ms = _sklearn("sklearn.model_selection")
        if self.multi_label:
            positives = y.sum(axis=0)
            smallest = int(positives[positives > 0].min()) if positives.any() else 0
            largest = len(y)
            stratify = None
        else:
            counts = np.bincount(y)
            smallest, largest = int(counts[counts > 0].min()), int(counts.max())
            stratify = y
        index = np.zeros(len(y))
        if len(y) > self.cv_limit:
            shuffled = ms.StratifiedShuffleSplit if stratify is not None and smallest >= 2 else None
            cv: Any = (shuffled or ms.ShuffleSplit)(
                1, test_size=self.holdout, random_state=self.seed
            )
        else:
            k = max(2, min(self.folds, smallest))
            if largest < k or len(y) < 2 * k:
                return []
            if stratify is None:
                cv = ms.KFold(k, shuffle=True, random_state=self.seed)
            else:
                cv = ms.StratifiedKFold(k, shuffle=True, random_state=self.seed)
        return [(train, test) for train, test in cv.split(index, stratify)]

    def _fit_one(self, xs: Array, y: Array, value: float) -> tuple[list[Array], int, Any]:
        """One head on standardised ``xs``: (layers over all classes, iterations, estimator)."""
        if self.hidden:
            return self._fit_mlp(xs, y, value)
        if self.multi_label:
            return self._fit_one_vs_rest(xs, y, value)
        present = np.unique(y)
        weight = np.zeros((xs.shape[1], self.classes_))
        if len(present) < 2:  # a fold with one class: always that class
            bias = np.full(self.classes_, -_NEVER)
            bias[present] = 0.0
            return [weight, bias], 0, None
        linear = _sklearn("sklearn.linear_model")
        balanced = "balanced" if self.class_weight else None
        estimator = linear.LogisticRegression(
            C=value, class_weight=balanced, max_iter=self.max_iter
        ).fit(xs, y)
        coef, intercept = estimator.coef_, estimator.intercept_
        if coef.shape[0] == 1:  # binary: p(second) = sigmoid(z) = softmax([0, z])
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        weight[:, estimator.classes_] = coef.T
        bias = _absent_bias(xs, coef, intercept, self.classes_)
        bias[estimator.classes_] = intercept
        return [weight, bias], int(np.max(estimator.n_iter_)), estimator

    def _fit_one_vs_rest(self, xs: Array, y: Array, value: float) -> tuple[list[Array], int, Any]:
        linear = _sklearn("sklearn.linear_model")
        weight = np.zeros((xs.shape[1], self.classes_))
        bias = np.zeros(self.classes_)
        estimators: list[Any] = []
        iterations = 0
        for label in range(self.classes_):
            column = y[:, label]
            if column.min() == column.max():  # always or never: a constant
                bias[label] = _NEVER if column[0] else -_NEVER
                estimators.append(None)
                continue
            estimator = linear.LogisticRegression(C=value, max_iter=self.max_iter).fit(xs, column)
            weight[:, label] = estimator.coef_[0]
            bias[label] = estimator.intercept_[0]
            estimators.append(estimator)
            iterations = max(iterations, int(np.max(estimator.n_iter_)))
        return [weight, bias], iterations, estimators

    def _fit_mlp(self, xs: Array, y: Array, value: float) -> tuple[list[Array], int, Any]:
        first_w = np.zeros((xs.shape[1], self.hidden))
        first_b = np.zeros(self.hidden)
        second_w = np.zeros((self.hidden, self.classes_))
        present = np.unique(y) if not self.multi_label else None
        if present is not None and len(present) < 2:
            second_b = np.full(self.classes_, -_NEVER)
            second_b[present] = 0.0
            return [first_w, first_b, second_w, second_b], 0, None
        estimator = _sklearn("sklearn.neural_network").MLPClassifier(
            hidden_layer_sizes=(self.hidden,),
            activation="relu",
            solver="adam",
            alpha=value,
            # Small sets are one batch an epoch: 0.01 converges in about a hundred epochs
            # where scikit-learn's 0.001 runs all 300 (same accuracy, a seventh of the time).
            learning_rate_init=0.01,
            max_iter=self.max_iter,
            random_state=self.seed,
        )
        weights = None
        if present is not None and self.class_weight:
            counts = np.bincount(y, minlength=self.classes_)
            weights = len(y) / (len(present) * counts[y])
        estimator.fit(xs, y, sample_weight=weights)
        first_w, second_w = estimator.coefs_
        first_b, second_b = estimator.intercepts_
        if present is None:  # multi-label: one sigmoid per label, in order
            return [first_w, first_b, second_w, second_b], int(estimator.n_iter_), estimator
        if second_w.shape[1] == 1:  # binary: one logistic unit
            second_w = np.hstack([np.zeros_like(second_w), second_w])
            second_b = np.concatenate([[0.0], second_b])
        hidden = np.maximum(0.0, xs @ first_w + first_b)
        out_w = np.zeros((self.hidden, self.classes_))
        out_w[:, estimator.classes_] = second_w
        out_b = _absent_bias(hidden, second_w.T, second_b, self.classes_)
        out_b[estimator.classes_] = second_b
        return [first_w, first_b, out_w, out_b], int(estimator.n_iter_), estimator

    def _forward(self, params: list[Array], xs: Array) -> Array:
        if self.hidden:
            logits = np.maximum(0.0, xs @ params[0] + params[1]) @ params[2] + params[3]
        else:
            logits = xs @ params[0] + params[1]
        if self.multi_label:
            probs: Array = 1.0 / (1.0 + np.exp(-np.clip(logits, -500, 500)))
            return probs
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
        return probs

    def _score(self, probs: Array, y: Array) -> tuple[float, float]:
        """(accuracy or micro-F1 at 0.5, mean log-loss) of cross-validated predictions."""
        clipped = np.clip(probs, 1e-12, 1 - 1e-12)
        if self.multi_label:
            predicted = probs >= 0.5
            true_positive = float((predicted & (y > 0)).sum())
            denominator = float(predicted.sum() + (y > 0).sum())
            f1 = 2 * true_positive / denominator if denominator else 0.0
            loss = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean()
            return f1, float(loss)
        accuracy = float((probs.argmax(axis=1) == y).mean())
        return accuracy, float(-np.log(clipped[np.arange(len(y)), y]).mean())


def _moments(x: Array) -> tuple[Array, Array]:
    """Per-feature means, and one scale for all features: their overall standard deviation.

    Not a standard deviation per feature: on a few images, a feature that happens to be
    nearly constant would be blown up (and explode on the next image that differs), and
    noise-only features would weigh as much as informative ones. One scale keeps the
    regularisation grid meaningful whatever the backbone's feature magnitudes.
    """
    mean = x.mean(axis=0)
    scale = float(np.sqrt(((x - mean) ** 2).mean())) if len(x) else 1.0
    return mean, np.full(x.shape[1], scale + 1e-6)


def _absent_bias(inputs: Array, coef: Array, intercept: Array, classes: int) -> Array:
    """Biases for classes the data never showed: below every logit seen, so never chosen."""
    lowest = float((inputs @ coef.T + intercept).min()) if len(inputs) else 0.0
    return np.full(classes, min(lowest, 0.0) - _NEVER)

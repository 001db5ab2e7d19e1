"""Classification heads trained with NumPy: linear (softmax regression) or a small MLP.

Follows the estimator contract: ``__init__`` stores parameters, ``fit`` returns ``self``,
learned state ends in ``_``. Features are standardised (folded into the weights when the head
is exported), classes are weighted inversely to their frequency, and training stops early
when the validation loss has not improved for ``patience`` epochs, keeping the best weights.
Deterministic given ``seed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HeadTrainer"]

Array = np.ndarray[Any, Any]


class HeadTrainer:
    """Trains ``features -> class scores`` with Adam on mini-batches."""

    def __init__(
        self,
        *,
        hidden: int = 0,
        multi_label: bool = False,
        epochs: int = 300,
        learning_rate: float = 0.01,
        l2: float = 1e-4,
        batch_size: int = 64,
        patience: int = 20,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.multi_label = multi_label
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.l2 = l2
        self.batch_size = batch_size
        self.patience = patience
        self.seed = seed

    def fit(self, x: Array, y: Array, x_val: Array, y_val: Array, classes: int) -> HeadTrainer:
        rng = np.random.default_rng(self.seed)
        self.mean_ = x.mean(axis=0)
        self.std_ = x.std(axis=0) + 1e-6
        xs, xv = (x - self.mean_) / self.std_, (x_val - self.mean_) / self.std_
        targets, val_targets = self._targets(y, classes), self._targets(y_val, classes)
        counts = targets.sum(axis=0)
        weights = np.where(counts > 0, len(x) / (classes * np.maximum(counts, 1)), 0.0)
        if self.multi_label:
            weights = np.ones(classes)  # each label's own loss already balances it
        params = self._init(x.shape[1], classes, rng)
        moments = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
        best = (np.inf, [p.copy() for p in params], 0)
        step = 0
        self.history_: list[tuple[float, float]] = []
        for epoch in range(self.epochs):
            order = rng.permutation(len(xs))
            for start in range(0, len(xs), self.batch_size):
                batch = order[start : start + self.batch_size]
                grads = self._gradients(params, xs[batch], targets[batch], weights)
                step += 1
                self._adam(params, grads, moments, step)
            train_loss = self._loss(params, xs, targets, weights)
            val_loss = self._loss(params, xv, val_targets, weights) if len(xv) else train_loss
            self.history_.append((train_loss, val_loss))
            if val_loss < best[0] - 1e-6:
                best = (val_loss, [p.copy() for p in params], epoch)
            elif epoch - best[2] >= self.patience:
                break
        self.params_ = best[1]
        self.best_epoch_ = best[2]
        self.classes_ = classes
        return self

    def predict_proba(self, x: Array) -> Array:
        return self._forward(self.params_, (x - self.mean_) / self.std_)[0]

    def folded(self) -> list[Array]:
        """Parameters with the standardisation folded into the first layer, float32."""
        first_w, first_b, *rest = self.params_
        weight = first_w / self.std_[:, None]
        bias = first_b - (self.mean_ / self.std_) @ first_w
        return [p.astype(np.float32) for p in (weight, bias, *rest)]

    # ------------------------------------------------------------------ internals

    def _targets(self, y: Array, classes: int) -> Array:
        if self.multi_label:
            return np.asarray(y, dtype=np.float64)
        out = np.zeros((len(y), classes))
        out[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = 1.0
        return out

    def _init(self, features: int, classes: int, rng: np.random.Generator) -> list[Array]:
        if self.hidden:
            return [
                rng.normal(0, np.sqrt(2 / features), (features, self.hidden)),
                np.zeros(self.hidden),
                rng.normal(0, np.sqrt(1 / self.hidden), (self.hidden, classes)),
                np.zeros(classes),
            ]
        return [rng.normal(0, 0.01, (features, classes)), np.zeros(classes)]

    def _forward(self, params: list[Array], x: Array) -> tuple[Array, Array | None]:
        hidden = None
        if self.hidden:
            hidden = np.maximum(0, x @ params[0] + params[1])
            logits = hidden @ params[2] + params[3]
        else:
            logits = x @ params[0] + params[1]
        if self.multi_label:
            return 1 / (1 + np.exp(-logits)), hidden
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True), hidden

    def _loss(self, params: list[Array], x: Array, targets: Array, weights: Array) -> float:
        probs, _ = self._forward(params, x)
        probs = np.clip(probs, 1e-9, 1 - 1e-9)
        if self.multi_label:
            per = -(targets * np.log(probs) + (1 - targets) * np.log(1 - probs)).mean(axis=1)
        else:
            per = -(targets * np.log(probs)).sum(axis=1) * (targets @ weights)
        return float(per.mean())

    def _gradients(
        self, params: list[Array], x: Array, targets: Array, weights: Array
    ) -> list[Array]:
        probs, hidden = self._forward(params, x)
        scale = (targets @ weights)[:, None] if not self.multi_label else 1 / targets.shape[1]
        delta = (probs - targets) * scale / len(x)
        if self.hidden:
            assert hidden is not None
            grads_out = [hidden.T @ delta, delta.sum(axis=0)]
            back = (delta @ params[2].T) * (hidden > 0)
            grads = [x.T @ back, back.sum(axis=0), *grads_out]
        else:
            grads = [x.T @ delta, delta.sum(axis=0)]
        for i in range(0, len(params), 2):  # L2 on weights, not biases
            grads[i] = grads[i] + self.l2 * params[i]
        return grads

    def _adam(
        self,
        params: list[Array],
        grads: list[Array],
        moments: tuple[list[Array], list[Array]],
        step: int,
    ) -> None:
        first, second = moments
        for i, grad in enumerate(grads):
            first[i] = 0.9 * first[i] + 0.1 * grad
            second[i] = 0.999 * second[i] + 0.001 * grad**2
            corrected = first[i] / (1 - 0.9**step)
            params[i] -= (
                self.learning_rate * corrected / (np.sqrt(second[i] / (1 - 0.999**step)) + 1e-8)
            )

"""The training loop: AdamW on what is unfrozen, class-weighted loss, early stopping.

:class:`Trainer` owns the optimiser (the head at the full learning rate, the other unfrozen
layers at a tenth of it, weight decay 1e-4) and the loss (cross-entropy weighted inversely to
class frequency; negative log-likelihood when the network already ends in a softmax). Batch
norm and dropout stay as at inference throughout, as small datasets need. Batches are augmented
and scaled on two threads, two ahead of the one training. :func:`run_epochs` runs epochs until
the validation loss has not improved for ``patience`` of them and puts the best weights back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...models.model import Model
from ...models.preprocess import scale_pixels
from .images import augment_batch
from .network import Network, import_torch

__all__ = ["EpochReport", "Trainer", "run_epochs"]


@dataclass(frozen=True)
class EpochReport:
    """One epoch's numbers, as the CLI prints them."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    seconds: float


class Trainer:
    """Mini-batch training of a :class:`.Network` on uint8 pixels with light augmentation."""

    def __init__(
        self,
        network: Network,
        model: Model,
        *,
        probabilities: bool,
        learning_rate: float,
        batch_size: int,
        classes: int,
        counts: np.ndarray[Any, Any],
    ) -> None:
        torch = import_torch()
        self.torch = torch
        self.network = network
        self.model = model
        self.probabilities = probabilities
        self.batch_size = batch_size
        head = network.groups[-1][1]
        body = [p for _, params in network.groups[:-1] for p in params if p.requires_grad]
        groups = [{"params": head, "lr": learning_rate}]
        if body:
            groups.append({"params": body, "lr": learning_rate / 10})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
        weights = np.where(counts > 0, counts.sum() / (classes * np.maximum(counts, 1)), 0.0)
        self.weights = torch.tensor(weights, dtype=torch.float32, device=network.device)

    def loss(self, output: Any, targets: Any) -> Any:
        functional = self.torch.nn.functional
        if self.probabilities:
            log = self.torch.log(output.clamp_min(1e-7))
            return functional.nll_loss(log, targets, weight=self.weights)
        return functional.cross_entropy(output, targets, weight=self.weights)

    def tensor(self, pixels: np.ndarray[Any, Any]) -> Any:
        scaled = scale_pixels(pixels, self.model.card, self.model.input)
        return self.torch.from_numpy(scaled).to(self.network.device)

    def epoch(
        self,
        x: np.ndarray[Any, Any],
        y: np.ndarray[Any, Any],
        rng: np.random.Generator,
        augment: bool,
    ) -> float:
        self.network.inference_mode()  # batch norm and dropout as at inference: see the module
        order = rng.permutation(len(x))
        batches = [order[i : i + self.batch_size] for i in range(0, len(x), self.batch_size)]
        # Each batch augments with its own seed, drawn here in order, so the run is the same
        # whichever thread prepares it; two batches are prepared ahead of the one training.
        seeds = rng.integers(0, 2**63, len(batches))

        def prepare(number: int) -> np.ndarray[Any, Any]:
            pixels = x[batches[number]]
            if augment:
                pixels = augment_batch(pixels, np.random.default_rng(int(seeds[number])))
            return scale_pixels(pixels, self.model.card, self.model.input)

        total = self.torch.zeros((), device=self.network.device)
        with ThreadPoolExecutor(2) as pool:
            ahead = [pool.submit(prepare, n) for n in range(min(2, len(batches)))]
            for number, batch in enumerate(batches):
                inputs = self.torch.from_numpy(ahead.pop(0).result()).to(self.network.device)
                if number + 2 < len(batches):
                    ahead.append(pool.submit(prepare, number + 2))
                targets = self.torch.from_numpy(y[batch]).to(self.network.device)
                loss = self.loss(self.network(inputs), targets)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                total += loss.detach() * len(batch)  # no GPU sync per step
        return float(total) / len(x)

    def evaluate(self, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[float, float]:
        outputs = []
        with self.torch.no_grad():
            for start in range(0, len(x), 64):
                outputs.append(self.network(self.tensor(x[start : start + 64])))
            output = self.torch.cat(outputs)
            loss = float(self.loss(output, self.torch.from_numpy(y).to(self.network.device)))
        accuracy = float((output.argmax(dim=-1).cpu().numpy() == y).mean())
        return loss, accuracy

    def snapshot(self) -> Any:
        return [p.detach().clone() for _, params in self.network.groups for p in params]

    def restore(self, state: Any) -> None:
        params = [p for _, group in self.network.groups for p in group]
        with self.torch.no_grad():
            for param, saved in zip(params, state, strict=True):
                param.copy_(saved)


def run_epochs(
    trainer: Trainer,
    train: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    validation: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    *,
    epochs: int,
    patience: int,
    rng: np.random.Generator,
    augment: bool,
    on_epoch: Callable[[EpochReport], None] | None,
) -> tuple[list[EpochReport], int]:
    """Train until ``epochs`` or early stopping, keep the best weights; (history, best epoch).

    The best epoch is the one with the lowest validation loss; it is 0, and the starting
    weights are kept, only when no epoch had a finite validation loss.
    """
    x_train, y_train = train
    x_val, y_val = validation
    history: list[EpochReport] = []
    best: tuple[float, Any, int] = (np.inf, trainer.snapshot(), 0)
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        train_loss = trainer.epoch(x_train, y_train, rng, augment)
        val_loss, val_accuracy = trainer.evaluate(x_val, y_val)
        report = EpochReport(
            epoch, epochs, train_loss, val_loss, val_accuracy, time.perf_counter() - started
        )
        history.append(report)
        if on_epoch:
            on_epoch(report)
        if val_loss < best[0] - 1e-6:
            best = (val_loss, trainer.snapshot(), epoch)
        elif epoch - best[2] >= patience:
            break
    trainer.restore(best[1])
    return history, best[2]

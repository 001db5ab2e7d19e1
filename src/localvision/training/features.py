"""Feature extraction through a cut backbone, cached on disk by image and backbone hash.

A second run over the same images (or a superset) reuses every vector already computed:
``<home>/cache/features/<backbone sha256>/<image sha256>.npy``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LocalVisionError
from ..files import atomic_path
from ..imaging.decode import ImageLimits, decode_image
from ..models.card import ModelCard
from ..models.onnx import OnnxRuntime
from ..models.preprocess import min_side_needed, to_tensor

__all__ = ["FeatureExtractor"]


class FeatureExtractor:
    """Runs images through ``backbone`` (a cut ONNX model), pre-processed as ``card`` says."""

    def __init__(
        self,
        card: ModelCard,
        channels: int,
        backbone: OnnxRuntime,
        backbone_sha: str,
        cache: Path,
        *,
        limits: ImageLimits,
        batch_size: int = 32,
    ) -> None:
        self.card = card
        self.channels = channels
        self.backbone = backbone
        self.cache = cache / "features" / backbone_sha
        self.limits = limits
        self.batch_size = batch_size

    def extract(
        self, paths: Sequence[Path], advance: Callable[[int], None] | None = None
    ) -> tuple[dict[Path, np.ndarray[Any, Any]], list[tuple[str, str]], int]:
        """Vectors for the readable images, (path, reason) for the others, and cache hits."""
        vectors: dict[Path, np.ndarray[Any, Any]] = {}
        skipped: list[tuple[str, str]] = []
        todo: list[tuple[Path, str]] = []
        hits = 0
        for path in paths:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                skipped.append((str(path), f"unreadable: {exc}"))
                continue
            cached = self.cache / f"{digest}.npy"
            if cached.is_file():
                vectors[path] = np.load(cached)
                hits += 1
                if advance:
                    advance(1)
            else:
                todo.append((path, digest))
        workers = min(4, os.cpu_count() or 1)
        chunks = [todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        with ThreadPoolExecutor(workers) as pool:
            # The next chunk decodes on the pool while this one runs through the backbone.
            pending = [pool.submit(self.prepare, p) for p, _ in chunks[0]] if chunks else []
            for number, chunk in enumerate(chunks):
                prepared = [future.result() for future in pending]
                if number + 1 < len(chunks):
                    pending = [pool.submit(self.prepare, p) for p, _ in chunks[number + 1]]
                ready = [
                    (item, tensor)
                    for item, tensor in zip(chunk, prepared, strict=True)
                    if not isinstance(tensor, str)
                ]
                for (path, _), reason in zip(chunk, prepared, strict=True):
                    if isinstance(reason, str):
                        skipped.append((str(path), reason))
                if ready:
                    batch = np.stack([tensor for _, tensor in ready])
                    output = self.backbone.run({self.backbone.inputs[0].name: batch})[0]
                    for ((path, digest), _), vector in zip(ready, output, strict=True):
                        vectors[path] = vector.astype(np.float32)
                        self._store(digest, vectors[path])
                if advance:
                    advance(len(chunk))
        return vectors, skipped, hits

    def prepare(self, path: Path) -> np.ndarray[Any, Any] | str:
        try:
            image = decode_image(path, limits=self.limits, min_side=min_side_needed(self.card))
            return to_tensor(image, self.card, self.backbone.inputs[0], self.channels)
        except LocalVisionError as exc:
            return exc.message

    def _store(self, digest: str, vector: np.ndarray[Any, Any]) -> None:
        target = self.cache / f"{digest}.npy"
        with atomic_path(target) as tmp, tmp.open("wb") as fh:
            np.save(fh, vector)

"""The Python API: load a model, classify images, annotate them.

Example::

    import localvision

    model = localvision.load_model("mobilenet_v2_1.0_224_quant.tflite")
    model.classify(["cat.jpg", "dog.png"], top_k=3)
    # [[("Egyptian cat", 0.85), ("tabby, tabby cat", 0.07), ...], [...]]

    for result in localvision.annotate(["cat.jpg"], model="mobilenet.onnx"):
        print(result.labels)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .config import Settings
from .engine import LocalEngine
from .errors import InvalidParameterError, ModelNotFoundError
from .imaging.decode import ImageLimits
from .models.card import CardFields, ModelCard
from .models.loader import load_model as _load_model
from .models.model import Model
from .types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest, ImageInput

if TYPE_CHECKING:
    from .registry import ModelVersion

__all__ = [
    "LocalModel",
    "annotate",
    "check_model",
    "classify",
    "engine_for",
    "load_model",
    "resolve_model",
]

log = logging.getLogger(__name__)


class LocalModel:
    """A loaded model with the operations a user wants from it.

    Made by :func:`load_model`; closes its runtime and threads on :meth:`close` or at the end
    of a ``with`` block.
    """

    def __init__(self, model: Model, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self._engine: LocalEngine | None = None
        self._engine_lock = threading.Lock()

    @property
    def card(self) -> ModelCard:
        """How the model is fed and read (see ``localvision models inspect``)."""
        return self.model.card

    @property
    def name(self) -> str:
        return self.model.name

    def classify(
        self, images: ImageInput | Sequence[ImageInput], *, top_k: int = 5, min_score: float = 0.0
    ) -> list[list[tuple[str, float]]]:
        """One list of ``(label, score)`` per image, best first; raises on the first bad image.

        Use :meth:`annotate` to get per-image errors instead of an exception.
        """
        _check_top_k(top_k)
        request = FeatureRequest(Feature.LABELS, max_results=top_k, min_score=min_score)
        results = self.annotate(images, features=[request])
        for result in results:
            if result.error is not None:
                raise result.error
        return [[(lab.name, lab.score) for lab in result.labels or []] for result in results]

    def annotate(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        features: Iterable[str | Feature | FeatureRequest] = (Feature.LABELS,),
    ) -> list[AnnotateResult]:
        """One :class:`AnnotateResult` per image; a bad image's error is on its result."""
        return self.engine.annotate(build_requests(images, features))

    @property
    def engine(self) -> LocalEngine:
        """The engine answering this model's features (created on first use, once: threads
        sharing the model share it, and with it their model runs)."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = engine_for({Feature.LABELS: self.model}, self.settings)
            return self._engine

    def predict(self, batch: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
        """Run an already pre-processed batch; the raw (dequantized) outputs."""
        return self.model.predict(batch)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self.model.close()

    def __enter__(self) -> LocalModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalModel({self.model.name!r}, format={self.model.format.name!r})"


def load_model(
    path: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    card: CardFields | Mapping[str, Any] | None = None,
    allow_pickle: bool | None = None,
    settings: Settings | None = None,
) -> LocalModel:
    """Load a model file of any supported format, ready to classify.

    ``labels``: a labels file or list (overrides labels found in the model); ``card``: card
    fields to override (``{"input_range": "-1..1"}``); ``allow_pickle``: permit pickled PyTorch
    files, which run code when loaded.
    """
    settings = settings or Settings()
    model = _load_model(
        path, settings=settings, card=card, labels=labels, allow_pickle=allow_pickle
    )
    return LocalModel(model, settings)


def resolve_model(name_or_path: str, settings: Settings, **overrides: Any) -> Model:
    """A model named in ``settings.models``, a registered model (``name``, ``name@3``,
    ``name@staging``; a bare name means its production alias), a model file path, or a storage
    URI of a pushed version (``s3://bucket/models/pets/3/``).

    A storage URI, given here or as a configured model's ``path``, is downloaded once into the
    data home's cache and verified against its manifest's sha256 (``settings.storage.offline``:
    the cache only); its card and labels come from the manifest, and configured card fields
    still override them.
    """
    configured = settings.models.get(name_or_path)
    if configured is not None:
        card = {**configured.card, **(overrides.pop("card", None) or {})}
        labels = overrides.pop("labels", None) or configured.labels
        if _is_uri(configured.path):
            return _from_storage(
                configured.path,
                settings,
                card=card,
                labels=labels,
                name=name_or_path,
                sha256=configured.sha256,
                **overrides,
            )
        return _load_model(
            configured.path,
            settings=settings,
            card=card,
            labels=labels,
            name=name_or_path,
            **overrides,
        )
    if _is_uri(name_or_path):
        return _from_storage(name_or_path, settings, **overrides)
    if Path(name_or_path).expanduser().exists():
        return _load_model(name_or_path, settings=settings, **overrides)
    registered = _registered(name_or_path, settings, overrides)
    if registered is not None:
        return registered
    raise _not_found(name_or_path, settings)


def check_model(name_or_path: str, settings: Settings) -> None:
    """Raise the error :func:`resolve_model` would raise for a model that cannot be found,
    without loading anything or touching the network.

    A server checks every model this way before it listens, so a typo fails at once; what only
    loading can tell (a corrupt file, a store that does not answer) is found later.
    """
    configured = settings.models.get(name_or_path)
    where = configured.path if configured is not None else name_or_path
    if _is_uri(where):
        from .storage import parse_uri

        parse_uri(where)  # a malformed URI is refused with a hint
        return
    if configured is not None:
        file = Path(where).expanduser()
        if not file.is_file():
            raise ModelNotFoundError(f"Model file {file} does not exist.", hint="Check the path.")
        return
    if Path(name_or_path).expanduser().exists() or _registry_entry(name_or_path, settings):
        return
    raise _not_found(name_or_path, settings)


def _not_found(name_or_path: str, settings: Settings) -> ModelNotFoundError:
    known = ", ".join(sorted(settings.models)) or "none configured"
    return ModelNotFoundError(
        f"No model file, configured or registered model named {name_or_path!r} "
        f"(configured: {known}).",
        hint="Pass a model file path, add it under [models] in localvision.toml, or register "
        "it with: localvision models add NAME PATH",
    )


def _is_uri(text: str) -> bool:
    """Whether ``text`` names a model in object storage (s3://, gs://, az://, file://...)."""
    if "://" not in text:  # a plain path: no need to import the storage layer
        return False
    from .storage import is_storage_uri

    return is_storage_uri(text)


def _from_storage(
    uri: str,
    settings: Settings,
    *,
    card: Mapping[str, Any] | None = None,
    labels: Any = None,
    name: str | None = None,
    sha256: str | None = None,
    **overrides: Any,
) -> Model:
    """The model pushed at ``uri``: fetched into the cache (or found there), then loaded;
    ``sha256`` (a configured model's pin) must be what its manifest says."""
    from .storage import fetch_model

    cached = fetch_model(uri, settings.home, offline=settings.storage.offline, sha256=sha256)
    manifest = cached.manifest
    log.info(
        "model %s: %s version %s from %s (%s)",
        name or manifest.name,
        manifest.name,
        manifest.version,
        uri,
        "from the cache, no download" if cached.from_cache else "downloaded and verified",
    )
    given = dict(card or {})
    pushed = dict(manifest.card)
    if manifest.labels and "labels" not in pushed:
        pushed["labels"] = list(manifest.labels)
    if "labels" in given or "labels_file" in given:  # the configured labels replace the pushed
        pushed.pop("labels", None)
    return _load_model(
        cached.path,
        settings=settings,
        card={**pushed, **given},
        labels=labels,
        name=name or f"{manifest.name}@{manifest.version}",
        **overrides,
    )


def _registry_entry(ref: str, settings: Settings) -> ModelVersion | None:
    """The registry's entry for ``ref``, or None when it names no registered model."""
    from .registry import Registry, parse_ref

    try:
        name, _ = parse_ref(ref)
    except InvalidParameterError:
        return None
    if not (settings.home / "registry" / "registry.db").is_file():
        return None
    registry = Registry(settings.home)
    if not registry.has(name):
        return None
    return registry.get(ref)


def _registered(ref: str, settings: Settings, overrides: dict[str, Any]) -> Model | None:
    entry = _registry_entry(ref, settings)
    if entry is None:
        return None
    card = {**entry.card, **(overrides.pop("card", None) or {})}
    return _load_model(
        entry.path,
        settings=settings,
        card=card,
        name=ref,
        **overrides,
    )


def engine_for(
    models: Mapping[Feature, Model],
    settings: Settings,
    *,
    on_batch: Callable[[Feature, int], None] | None = None,
    coalesce: bool | None = None,
) -> LocalEngine:
    """A :class:`LocalEngine` with the limits and batch sizes from ``settings``."""
    return LocalEngine(
        models,
        limits=ImageLimits(settings.max_image_bytes, settings.max_image_pixels),
        batch_size=settings.batch_size,
        decode_workers=settings.decode_workers,
        on_batch=on_batch,
        coalesce=coalesce,
    )


def annotate(
    images: ImageInput | Sequence[ImageInput],
    *,
    features: Iterable[str | Feature | FeatureRequest] = (Feature.LABELS,),
    model: str | None = None,
    settings: Settings | None = None,
) -> list[AnnotateResult]:
    """Annotate images with the model given, or the ones configured per feature.

    Example: ``localvision.annotate(["a.jpg"], model="mobilenet.onnx")``.
    """
    settings = settings or Settings.load()
    requests = build_requests(images, features)
    wanted = {r.feature for request in requests for r in request.features}
    models: dict[Feature, Model] = {}
    try:
        for feature in wanted:
            name = model or settings.features.get(feature.value)
            if name is not None:
                models[feature] = resolve_model(name, settings)
        with engine_for(models, settings) as engine:
            return engine.annotate(requests)
    finally:
        for loaded in models.values():
            loaded.close()


def classify(
    images: ImageInput | Sequence[ImageInput],
    model: str,
    *,
    top_k: int = 5,
    settings: Settings | None = None,
) -> list[list[tuple[str, float]]]:
    """Shorthand: load ``model``, classify ``images``, close the model."""
    settings = settings or Settings.load()
    with LocalModel(resolve_model(model, settings), settings) as loaded:
        return loaded.classify(images, top_k=top_k)


def build_requests(
    images: ImageInput | Sequence[ImageInput],
    features: Iterable[str | Feature | FeatureRequest],
) -> list[AnnotateRequest]:
    """One request per image, all asking for ``features``."""
    feature_requests = tuple(
        f if isinstance(f, FeatureRequest) else FeatureRequest(Feature.parse(f)) for f in features
    )
    return [AnnotateRequest(image=image, features=feature_requests) for image in _as_list(images)]


def _as_list(images: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    single = (str, bytes, bytearray, memoryview, os.PathLike, np.ndarray, Image.Image)
    if isinstance(images, single):
        return [images]
    return list(images)


def _check_top_k(top_k: int) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 10000:
        raise InvalidParameterError(
            f"The 'top_k' parameter must be an int in [1, 10000]. Got {top_k!r} instead."
        )

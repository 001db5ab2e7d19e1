"""Everything a running server holds: its models, engine, dispatcher, fetcher and metrics.

Models load and warm up in :meth:`ServerState.start` (called by the app's lifespan, before
``/readyz`` turns ready); a model that fails to load stops the server from starting, with the
model's own error. ``localvision serve`` loads them in the background instead, already
listening (:mod:`.loading`): :meth:`~ServerState.load_models`, then
:meth:`~ServerState.go_live`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..api import check_model, engine_for, resolve_model
from ..cloud.router import Router
from ..config import Settings
from ..engine import LocalEngine
from ..errors import ConfigError, LocalVisionError, ServerUnavailableError
from ..models.card import Layout
from ..models.model import Model
from ..registry import Registry
from ..types import AnnotateRequest, AnnotateResult, Feature
from .batching import Batcher
from .dispatch import Dispatcher
from .fetch import ImageFetcher
from .metrics import Metrics
from .storage_inputs import StorageImages

__all__ = ["ServerState", "feature_models"]

log = logging.getLogger("localvision.server")


def feature_models(settings: Settings, loaded: Mapping[str, Model]) -> dict[Feature, str]:
    """Which served model answers each feature.

    ``[features]`` in config decides; without an entry, a single served classification model
    answers labels and a single detection model answers objects.
    """
    chosen: dict[Feature, str] = {}
    for key, name in settings.features.items():
        try:
            feature = Feature.parse(key)
        except ValueError as exc:
            raise ConfigError(f"[features] {key}: {exc}") from None
        if name not in loaded:
            raise ConfigError(
                f"[features] {key} = {name!r}, but no model of that name is served.",
                hint=f"Served models: {', '.join(loaded) or 'none'}.",
            )
        chosen[feature] = name
    for feature, task in ((Feature.LABELS, "classify"), (Feature.OBJECTS, "detect")):
        candidates = [n for n, m in loaded.items() if m.card.task == task]
        if feature not in chosen and len(candidates) == 1:
            chosen[feature] = candidates[0]
    return chosen


@dataclass
class ServerState:
    """The live server's parts; built by :func:`~localvision.server.create_app`."""

    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    models: dict[str, Model] = field(default_factory=dict)
    features: dict[Feature, str] = field(default_factory=dict)
    engine: LocalEngine | None = None
    dispatcher: Dispatcher | None = None
    batcher: Batcher | None = None
    fetcher: ImageFetcher | None = None
    router: Router | None = None
    """Set when ``[cloud.router]`` has routes: requests then go through it, not the batcher."""
    storage_images: StorageImages | None = None
    """Reads images requests name by storage URI, from ``[storage] allow``'s buckets only."""
    ready: bool = False
    loading: bool = False
    """Models are loading in the background while the server already listens (``serve``):
    protocol routes answer 503 until they are in (:mod:`.loading`)."""
    reason: str | None = None
    """Why the server is not ready yet, for ``/readyz`` and the log; None once ready."""
    loading_model: str | None = None
    """The model being loaded now, if any."""
    followed: dict[str, int] = field(default_factory=dict)
    """Registered models served by name or alias: the version each is at now."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = False

    def check(self) -> None:
        """Refuse at once, without loading anything or touching the network, a configuration
        whose models cannot be found: a missing file, an unknown registered name, a malformed
        storage URI, a ``[features]`` key that is no feature (:func:`~localvision.api.check_model`).

        ``localvision serve`` runs it before it listens, so a typo is one line and exit 2
        rather than a server that starts and then stops.
        """
        for key in self.settings.features:
            try:
                Feature.parse(key)
            except ValueError as exc:
                raise ConfigError(f"[features] {key}: {exc}") from None
        for name in self._wanted():
            check_model(name, self.settings)

    def start(self) -> None:
        """Load and warm up every configured model, then build the engine (blocking).

        A model that fails to load closes what was loaded and raises its own error.
        """
        self._closed = False
        try:
            self.load_models()
            self.go_live()
        except LocalVisionError:
            self.close()
            raise

    def load_models(self) -> None:
        """Load and warm up every wanted model not loaded yet (blocking).

        Raises the first failure and keeps the models already loaded, so a retry (storage came
        back) loads only what is missing. ``reason`` says which model is loading.
        """
        configured = set(self.settings.models)
        for name in self._wanted():
            if name in self.models:
                continue
            self.reason = f"loading model {name}"
            self.loading_model = name
            log.info("loading %smodel %s", "" if name in configured else "registered ", name)
            model = resolve_model(name, self.settings)
            try:
                warm_up(model)
            except BaseException:
                model.close()
                raise
            with self._lock:
                if self._closed:  # the server stopped while this model loaded
                    model.close()
                    raise ServerUnavailableError("The server stopped while models loaded.")
                self.models = {**self.models, name: model}  # readers see the old or the new
            if name not in configured and (
                "@" not in name or not name.rsplit("@", 1)[1].isdigit()
            ):  # a registered model by name or alias: follow where it points
                self.followed[name] = self._registered_version(name)
        self.loading_model = None

    def go_live(self) -> None:
        """With every model loaded: choose the model per feature, build the router, engine,
        batcher and fetchers, and turn ready."""
        with self._lock:
            if self._closed:
                raise ServerUnavailableError("The server stopped while models loaded.")
            self.features = feature_models(self.settings, self.models)
            if self.settings.cloud.router.routes:
                self.router = Router(
                    self.settings,
                    _CurrentEngine(self),
                    load=lambda: self.batcher.waiting if self.batcher is not None else 0,
                )
            self.engine = self._engine()
            self.schedule()
            server = self.settings.server
            self.fetcher = ImageFetcher(
                max_bytes=self.settings.max_image_bytes,
                timeout_s=server.url_timeout_s,
                allow_private=server.allow_private_urls,
            )
            self.storage_images = StorageImages(
                self.settings.storage.allow,
                max_bytes=self.settings.max_image_bytes,
                timeout_s=server.url_timeout_s,
            )
            self.loading = False
            self.reason = None
            self.ready = True
        log.info(
            "ready: models %s; features %s",
            ", ".join(self.models) or "none",
            ", ".join(f"{f.value}={n}" for f, n in self.features.items()) or "none",
        )

    def _wanted(self) -> list[str]:
        """Every model to serve: the configured ones, then registered ones ``[features]``
        names (``name``, ``name@3``, ``name@alias``)."""
        configured = list(self.settings.models)
        named = [n for n in self.settings.features.values() if n not in self.settings.models]
        return configured + list(dict.fromkeys(named))

    def _engine(self) -> LocalEngine:
        by_feature = {feature: self.models[name] for feature, name in self.features.items()}
        return engine_for(
            by_feature,
            self.settings,
            on_batch=lambda feature, size: self.metrics.batch_size.labels(feature.value).observe(
                size
            ),
            # The batcher merges requests itself, and its workers run batches side by side on
            # purpose (one decodes while the other runs); on a GPU too, they are its two
            # streams of batches.
            coalesce=False,
        )

    def _registered_version(self, ref: str) -> int:
        return Registry(self.settings.home).get(ref).version

    def reload_changed(self) -> list[str]:
        """Swap in the new version of every followed registered model whose alias moved.

        Blocking (run it off the event loop). The new version is loaded and warmed up first;
        then the models, engine and batcher are replaced together, so each request runs on
        either the old or the new version, never a mix; requests already running finish on the
        old one, which is closed once they have had time to.
        """
        swapped: list[str] = []
        for ref, version in list(self.followed.items()):
            try:
                current = self._registered_version(ref)
            except LocalVisionError as exc:
                log.warning("cannot check %s in the registry: %s", ref, exc)
                continue
            if current == version:
                continue
            log.info("%s moved to version %s; loading it", ref, current)
            try:
                fresh = resolve_model(ref, self.settings)
                warm_up(fresh)
            except LocalVisionError as exc:
                log.error("cannot load %s@%s, keeping version %s: %s", ref, current, version, exc)
                self.followed[ref] = current  # do not retry a broken version in a loop
                continue
            old_model, old_engine = self.models[ref], self.engine
            self.models = {**self.models, ref: fresh}
            self.engine = self._engine()
            self.schedule()
            self.followed[ref] = current
            swapped.append(ref)
            self._retire(old_model, old_engine)
        return swapped

    def _retire(self, model: Model, engine: LocalEngine | None) -> None:
        """Close what a swap replaced once in-flight requests have had their time limit."""

        def later() -> None:
            time.sleep(self.settings.server.request_timeout_s + 1)
            if engine is not None:
                engine.close()
            model.close()

        threading.Thread(target=later, name="lv-retire", daemon=True).start()

    def schedule(self) -> None:
        """Build the dispatcher and batcher around the current engine, from the settings.

        Every protocol's work (the engine's, the router's, Open Inference's) goes through the
        batcher: one admission bound counted in images, one queue, one set of workers.
        """
        assert self.engine is not None
        server = self.settings.server
        self.dispatcher = Dispatcher(
            workers=server.workers,
            max_queue=server.max_queue,
            timeout_s=server.request_timeout_s,
            metrics=self.metrics,
        )
        self.batcher = Batcher(
            self.engine.annotate,
            self.dispatcher,
            max_batch_size=server.max_batch_size,
            max_queue_delay_ms=server.max_queue_delay_ms,
            max_queue=server.max_queue,
            timeout_s=server.request_timeout_s,
            metrics=self.metrics,
        )

    def close(self) -> None:
        """Stop answering and release models and threads (a model still loading in the
        background is closed when it arrives)."""
        with self._lock:
            self._closed = True
            self.ready = False
            self.loading = False
        if self.router is not None:
            self.router.close()
            self.router = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        for model in self.models.values():
            model.close()
        self.models.clear()

    def model_for(self, feature: Feature) -> Model | None:
        """The model answering ``feature``, if any."""
        name = self.features.get(feature)
        return self.models.get(name) if name else None


class _CurrentEngine:
    """The engine in service at call time, for the router: a hot swap replaces
    ``state.engine``, and the router must follow it."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    @property
    def features(self) -> frozenset[Feature]:
        engine = self.state.engine
        return engine.features if engine is not None else frozenset()

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        engine = self.state.engine
        assert engine is not None, "the router runs only while the server is up"
        return engine.annotate(requests)

    def close(self) -> None:
        """Nothing to release: the state owns and closes the engines."""


def warm_up(model: Model) -> None:
    """Run one zero image so the first real request does not pay for lazy initialisation."""
    height, width = model.card.input_size
    if model.card.layout == Layout.NCHW:
        dims = (1, model.channels, height, width)
    else:
        dims = (1, height, width, model.channels)
    model.predict(np.zeros(dims, dtype=model.input.dtype))

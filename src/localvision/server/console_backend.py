"""The console's view of this server: :class:`~localvision.console.ConsoleBackend` over the
running :class:`~.state.ServerState`.

The console may not import the server (``docs/architecture.md``); the server hands it this
adapter instead. Everything is read from the state at call time, so a hot swap (a registry
alias moving) or a settings change shows on the next page. Annotating goes through
:func:`.common.annotate`, the function every protocol's route calls: same admission queue,
batcher, router, audit records and metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anyio
from prometheus_client import CollectorRegistry

from ..api import engine_for
from ..config import Settings
from ..console import ConsoleBackend, QueueState, ServedModel
from ..errors import ImageFetchError, InvalidParameterError
from ..types import AnnotateRequest, AnnotateResult, Feature
from .auth import hash_key, key_accepted
from .common import Caller, annotate, require_loaded, uris_to_bytes
from .state import ServerState

__all__ = ["ServerConsoleBackend"]

_TASK_FEATURES = {"classify": Feature.LABELS, "detect": Feature.OBJECTS}
"""The feature a picked model answers, by its card's task."""


class ServerConsoleBackend(ConsoleBackend):
    """The console's backend for a server built by :func:`~.app.create_app`."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def ready(self) -> bool:
        return self.state.ready

    @property
    def not_ready_because(self) -> str | None:
        return None if self.state.ready else self.state.reason

    @property
    def metrics(self) -> CollectorRegistry:
        return self.state.metrics.registry

    def served_models(self) -> list[ServedModel]:
        state = self.state
        answers: dict[str, list[str]] = {}
        for feature, name in state.features.items():
            answers.setdefault(name, []).append(feature.value)
        return [
            ServedModel(
                name=name,
                format=model.format.name,
                sha256=model.sha256,
                device=model.runtime.device,
                task=str(model.card.task),
                features=tuple(answers.get(name, ())),
                card=model.card.to_dict(),
                follows=name if name in state.followed else None,
                version=state.followed.get(name),
            )
            for name, model in state.models.items()
        ]

    def feature_models(self) -> Mapping[Feature, str]:
        return dict(self.state.features)

    def answerable(self) -> frozenset[Feature]:
        state = self.state
        if state.router is not None:
            return state.router.features
        return state.engine.features if state.engine is not None else frozenset()

    def queue(self) -> QueueState:
        server = self.state.settings.server
        batcher = self.state.batcher
        waiting = batcher.waiting if batcher is not None else 0
        return QueueState(waiting=waiting, bound=server.max_queue, workers=server.workers)

    def key_id(self, key: str) -> str | None:
        settings = self.state.settings
        if not settings.server.api_keys or not key_accepted(key, settings):
            return None
        return hash_key(key)

    async def fetch_image(self, uri: str) -> bytes:
        fetched = (await uris_to_bytes(self.state, {0: uri})).get(0)
        if isinstance(fetched, bytes):
            return fetched
        raise fetched or ImageFetchError("URLs cannot be fetched until the server is ready.")

    async def annotate(
        self,
        requests: Sequence[AnnotateRequest],
        *,
        key_id: str | None,
        private: bool,
        model: str | None = None,
    ) -> list[AnnotateResult]:
        state = self.state
        listed = key_id is not None and key_id in state.settings.server.private_keys
        if model is None:
            caller = Caller(private=private or listed, key=key_id)
            return await annotate(state, list(requests), caller=caller)
        return await self._with_model(requests, model)

    async def _with_model(
        self, requests: Sequence[AnnotateRequest], name: str
    ) -> list[AnnotateResult]:
        """Run ``requests`` with the served model ``name`` answering its task's feature, on a
        short-lived engine whose work goes through the same batcher (never to the cloud)."""
        state = self.state
        require_loaded(state)
        picked = state.models.get(name)
        feature = _TASK_FEATURES.get(str(picked.card.task)) if picked is not None else None
        if picked is None or feature is None:
            served = [n for n, m in state.models.items() if str(m.card.task) in _TASK_FEATURES]
            raise InvalidParameterError(
                f"{name!r} is not a served classification or detection model.",
                hint=f"Served ones: {', '.join(served) or 'none'}.",
            )
        models = {f: state.models[n] for f, n in state.features.items() if n in state.models}
        models[feature] = picked
        engine = engine_for(models, state.settings)
        assert state.batcher is not None
        try:
            results: list[AnnotateResult] = await state.batcher.submit(
                list(requests), run=engine.annotate
            )
        finally:  # closing waits for the engine's threads: not on the event loop
            await anyio.to_thread.run_sync(engine.close)
        for asked, result in zip(requests, results, strict=True):
            outcome = "ok" if result.error is None else type(result.error).__name__
            for wanted in asked.features:
                state.metrics.images.labels(wanted.feature.value, outcome).inc()
        return results

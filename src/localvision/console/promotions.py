"""Promoting and rolling back from the console: the CLI's operations, with the same gate, plus
one check a web page needs: has the alias moved since the page was loaded?

Each form carries the version the alias pointed at when the page was rendered (``seen``). The
move happens only if the alias still points there, checked and done under one lock, so of two
tabs promoting at once one wins and the other is told what changed instead of silently undoing
it. The registry does the check and the move in one transaction (``expected=`` of
:meth:`~localvision.registry.Registry.set_alias`), so this holds across processes too: a CLI
moving the alias at the same instant is seen like another tab. A gate is measured before the
move (it runs models over a data set), so a promotion that won meanwhile is not overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import (
    AliasMovedError,
    InvalidParameterError,
    LocalVisionError,
    ModelNotFoundError,
    http_status,
)
from ..registry import Registry, parse_ref

__all__ = ["Outcome", "Promotions", "alias_versions"]


@dataclass(frozen=True)
class Outcome:
    """What happened, as the page says it: ``status`` is the page's HTTP status."""

    ok: bool
    message: str
    status: int = 200


def alias_versions(registry: Registry, name: str) -> dict[str, int]:
    """Every alias of ``name`` and the version it points at now."""
    out: dict[str, int] = {}
    for entry in registry.versions(name):
        for alias in entry.aliases:
            out[alias] = entry.version
    return out


class Promotions:
    """Alias moves for the console; ``settings`` is read at each call (the registry lives in
    its home)."""

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self.settings = settings

    def promote(
        self, ref: str, alias: str, *, seen: Mapping[str, int], gate: str = "", data: str = ""
    ) -> Outcome:
        """Point ``alias`` at ``ref`` (``name@version``) if it still points where ``seen``
        says and ``gate`` (if any) passes on the folder ``data``. Blocking."""
        try:
            settings = self.settings()
            registry = Registry(settings.home)
            name, selector = parse_ref(ref)
            if selector is None or not selector.isdigit():
                raise InvalidParameterError(f"Promote a version (name@3), not {ref!r}.")
            candidate = registry.get(ref)
            moved = self._moved(registry, name, alias, seen)
            if moved is not None:
                return moved
            sentence = ""
            if gate:
                if not data:
                    raise InvalidParameterError(
                        "A gate needs holdout data: the folder of labelled images to measure on.",
                        hint="One sub-folder per class, on the server's disk.",
                    )
                from ..advisor.promotion import check_gate  # loads evaluation only when used

                verdict = check_gate(settings, registry, candidate, gate, Path(data))
                if not verdict.passed:
                    return Outcome(
                        False,
                        f"Refused to promote {candidate.ref} to {name}@{alias}: the gate "
                        f"{gate!r} failed ({verdict.sentence}). Nothing was promoted.",
                        422,
                    )
                sentence = f" Gate {gate!r} passed: {verdict.sentence}."
            try:  # the registry checks and moves in one transaction
                registry.set_alias(name, candidate.version, alias, expected=seen.get(alias))
            except AliasMovedError:
                return self._moved(registry, name, alias, seen) or _LOST_RACE
            return Outcome(True, f"Promoted {candidate.ref} to {name}@{alias}.{sentence}")
        except LocalVisionError as exc:
            return _failed(exc)

    def rollback(self, name: str, alias: str, *, seen: Mapping[str, int]) -> Outcome:
        """Move ``alias`` of ``name`` back to its previous version, if it still points where
        ``seen`` says. Blocking."""
        try:
            registry = Registry(self.settings().home)
            moved = self._moved(registry, name, alias, seen)
            if moved is not None:
                return moved
            try:
                entry = registry.rollback(name, alias, expected=seen.get(alias))
            except AliasMovedError:
                return self._moved(registry, name, alias, seen) or _LOST_RACE
            return Outcome(True, f"Rolled {name}@{alias} back to version {entry.version}.")
        except LocalVisionError as exc:
            return _failed(exc)

    @staticmethod
    def _moved(
        registry: Registry, name: str, alias: str, seen: Mapping[str, int]
    ) -> Outcome | None:
        """A refusal when ``alias`` no longer points where the page showed it, else None."""
        if not registry.has(name):
            raise ModelNotFoundError(f"No registered model named {name!r}.")
        now = alias_versions(registry, name).get(alias)
        before = seen.get(alias)
        if now == before:
            return None
        shown = f"version {before}" if before is not None else "no version"
        current = f"version {now}" if now is not None else "no version"
        return Outcome(
            False,
            f"{name}@{alias} changed while this page was open: it showed {shown}, it is "
            f"{current} now (someone else moved it). Nothing was changed; the page now shows "
            "the registry as it is, so check it and try again if you still want to.",
            409,
        )


_LOST_RACE = Outcome(
    False,
    "The alias moved while this request was being handled, and moved back since. Nothing was "
    "changed; reload the page and try again.",
    409,
)


def _failed(exc: LocalVisionError) -> Outcome:
    hint = f" {exc.hint}" if exc.hint else ""
    return Outcome(False, f"{exc.message}{hint}", http_status(exc))

"""The one interface everything that answers requests implements.

A local engine with its models, a cloud provider and the router are all Annotators, so the
server, the CLI and the comparison tools never care which one they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .types import AnnotateRequest, AnnotateResult, Feature

__all__ = ["Annotator"]


@runtime_checkable
class Annotator(Protocol):
    """Batch-first: a list of requests in, one result per request out, in the same order.

    A failure that concerns one image (bad bytes, a feature it cannot answer) is reported on
    that image's result, never raised; exceptions mean the annotator itself is broken.
    """

    @property
    def features(self) -> frozenset[Feature]:
        """The features this annotator can answer."""
        ...

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        """Answer every request; results in request order."""
        ...

    def close(self) -> None:
        """Release models, threads and connections."""
        ...

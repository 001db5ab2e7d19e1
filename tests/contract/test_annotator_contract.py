"""The Annotator contract, checked the same way against every Annotator.

The server, the CLI, the router and the advisor all hold "an Annotator" and rely on the same
promises (see :class:`localvision.annotator.Annotator`): one result per request, in request
order; each request answered with its own features, however the batch mixes them; a failure
that concerns one image stays on that image; an empty batch is an empty answer; a batch larger
than a vendor's own limit is still answered whole; a feature the annotator cannot answer is an
error on that image, not a silent gap.

The five Annotators run for real: the local engine with a tiny ONNX classifier; the three cloud
providers pointed at stand-ins on 127.0.0.1 (Google and AWS at localvision's own server, whose
Google and Rekognition APIs are themselves tested against the official clients; Azure at a
canned server that answers in Azure's documented JSON); and the router, sending labels to the
Google provider and everything else to the local engine.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from localvision.annotator import Annotator
from localvision.api import engine_for
from localvision.config import (
    AwsProviderSettings,
    AzureProviderSettings,
    CloudSettings,
    GoogleProviderSettings,
    RouterSettings,
    Settings,
)
from localvision.errors import FeatureNotAvailableError, ImageError
from localvision.models import load_model
from localvision.types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest

from ..azure_stand_in import KEY as AZURE_KEY
from ..azure_stand_in import azure_stand_in
from ..servers import CLIENT_TIMEOUT_S, LiveServer

pytest.importorskip("httpx", reason="the cloud extra calls providers")

FIELD = {Feature.LABELS: "labels", Feature.COLORS: "colors", Feature.TEXT: "text"}
"""Where each feature used here puts its answer on an AnnotateResult."""


@dataclass
class Case:
    """One Annotator under contract, and what it can and cannot answer as set up here."""

    annotator: Annotator
    answers: tuple[Feature, Feature]
    """Two features it answers, each on a field of its own."""
    cannot: Feature
    """A feature it cannot answer as configured."""
    limit: int = 16
    """How many images it sends in one call, where it batches (else 16)."""


def _google(home: Path, server: LiveServer) -> Annotator:
    from localvision.cloud.providers.google import GoogleVisionProvider

    google = GoogleProviderSettings(
        api_key="k", endpoint=server.url, retries=0, timeout_s=CLIENT_TIMEOUT_S
    )
    return GoogleVisionProvider(
        Settings(home=home, cloud=CloudSettings(egress="allow", google=google))
    )


def _aws(home: Path, server: LiveServer) -> Annotator:
    pytest.importorskip("boto3", reason="the aws extra calls Rekognition through boto3")
    from localvision.cloud.providers.aws import RekognitionProvider

    aws = AwsProviderSettings(
        endpoint=server.url,
        access_key_id="AKIDLOCAL",
        secret_access_key="local",
        retries=0,
        timeout_s=CLIENT_TIMEOUT_S,
    )
    return RekognitionProvider(Settings(home=home, cloud=CloudSettings(egress="allow", aws=aws)))


def _azure(home: Path, url: str) -> Annotator:
    from localvision.cloud.providers.azure import AzureVisionProvider

    azure = AzureProviderSettings(
        endpoint=url, key=AZURE_KEY, retries=0, timeout_s=CLIENT_TIMEOUT_S
    )
    return AzureVisionProvider(
        Settings(home=home, cloud=CloudSettings(egress="allow", azure=azure))
    )


def _router(home: Path, server: LiveServer, local: Annotator) -> Annotator:
    from localvision.cloud.router import Router

    settings = Settings(
        home=home,
        cloud=CloudSettings(
            egress="allow",
            google=GoogleProviderSettings(
                api_key="k", endpoint=server.url, retries=0, timeout_s=CLIENT_TIMEOUT_S
            ),
            router=RouterSettings(routes={"labels": ["google", "local"]}),
        ),
    )
    return Router(settings, local)


ANNOTATORS = ["local", "router", "google", "aws", "azure"]


@pytest.fixture(scope="module")
def cases(
    colour_model_path: Path, colour_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Callable[[], Case]]]:
    """Each Annotator, opened when a test first asks for it and closed after the module."""
    home = tmp_path_factory.mktemp("contract-home")
    settings = Settings(home=home)
    opened: dict[str, Case] = {}
    azure_urls = azure_stand_in()

    def local() -> Case:
        model = load_model(colour_model_path, settings=settings)
        engine = engine_for({Feature.LABELS: model}, settings)
        return Case(engine, (Feature.LABELS, Feature.COLORS), Feature.OBJECTS)

    def router() -> Case:
        return Case(
            _router(home, colour_server, get("local").annotator),
            (Feature.LABELS, Feature.COLORS),
            Feature.OBJECTS,
        )

    def azure() -> Case:
        return Case(
            _azure(home, azure_urls.__enter__()), (Feature.LABELS, Feature.TEXT), Feature.COLORS
        )

    makers: dict[str, Callable[[], Case]] = {
        "local": local,
        "router": router,
        "google": lambda: Case(
            _google(home, colour_server), (Feature.LABELS, Feature.COLORS), Feature.OBJECTS
        ),
        "aws": lambda: Case(
            _aws(home, colour_server), (Feature.LABELS, Feature.COLORS), Feature.CROP_HINTS, 1
        ),
        "azure": azure,
    }

    def get(name: str) -> Case:
        if name not in opened:
            opened[name] = makers[name]()
        return opened[name]

    yield {name: (lambda name=name: get(name)) for name in makers}  # type: ignore[misc]
    for name in ["router", *[n for n in opened if n != "router"]]:
        if name in opened:
            opened[name].annotator.close()
    if "azure" in opened:
        azure_urls.__exit__(None, None, None)


@pytest.fixture(params=ANNOTATORS)
def case(request: pytest.FixtureRequest, cases: dict[str, Callable[[], Case]]) -> Case:
    return cases[request.param]()


def jpeg(width: int, height: int = 40, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A flat JPEG whose width tells the results apart."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def ask(feature: Feature, width: int, name: str | None = None) -> AnnotateRequest:
    return AnnotateRequest(jpeg(width), [FeatureRequest(feature)], name=name or f"w{width}")


def answered(result: AnnotateResult, feature: Feature) -> Any:
    return getattr(result, FIELD[feature])


def test_it_is_an_annotator(case: Case) -> None:
    assert isinstance(case.annotator, Annotator)
    assert set(case.answers) <= case.annotator.features


def test_an_empty_batch_is_an_empty_answer(case: Case) -> None:
    assert case.annotator.annotate([]) == []


def test_each_request_keeps_its_own_features_in_a_mixed_batch(case: Case) -> None:
    first, second = case.answers
    requests = [ask(first, 48), ask(second, 56), ask(first, 64), ask(second, 72)]
    results = case.annotator.annotate(requests)
    assert [r.name for r in results] == ["w48", "w56", "w64", "w72"]
    for request, result in zip(requests, results, strict=True):
        asked = request.features[0].feature
        other = second if asked is first else first
        assert result.error is None, f"{result.name}: {result.error}"
        assert answered(result, asked), f"{result.name} has no {asked.value}"
        assert answered(result, other) is None, f"{result.name} got {other.value} unasked"


def test_results_come_back_one_per_request_in_order(case: Case) -> None:
    widths = [40 + 8 * i for i in range(6)]
    results = case.annotator.annotate([ask(case.answers[0], w) for w in widths])
    assert [r.width for r in results] == widths
    assert [r.name for r in results] == [f"w{w}" for w in widths]
    assert all(r.error is None and answered(r, case.answers[0]) for r in results)


def test_a_batch_larger_than_the_vendors_limit_is_answered_whole(case: Case) -> None:
    widths = [40 + 4 * i for i in range(case.limit + 4)]
    results = case.annotator.annotate([ask(case.answers[0], w) for w in widths])
    assert [r.width for r in results] == widths
    assert all(r.error is None and answered(r, case.answers[0]) for r in results)


def test_a_broken_image_is_that_images_error_only(case: Case) -> None:
    feature = case.answers[0]
    broken = AnnotateRequest(b"\xff\xd8\xff\xe0 not really a jpeg", [FeatureRequest(feature)])
    good, bad, also_good = case.annotator.annotate([ask(feature, 48), broken, ask(feature, 64)])
    assert isinstance(bad.error, ImageError)
    assert answered(bad, feature) is None
    for result, width in ((good, 48), (also_good, 64)):
        assert result.error is None and result.width == width and answered(result, feature)


def test_a_feature_it_cannot_answer_is_an_error_on_that_image(case: Case) -> None:
    feature = case.answers[0]
    requests = [ask(feature, 48), ask(case.cannot, 56), ask(feature, 64)]
    before, refused, after = case.annotator.annotate(requests)
    assert isinstance(refused.error, FeatureNotAvailableError), refused.error
    assert refused.name == "w56"
    for result, width in ((before, 48), (after, 64)):
        assert result.error is None and result.width == width and answered(result, feature)

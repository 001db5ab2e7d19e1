"""``localvision compare``: measure local models on the user's images, price the cloud, and say
where the break-even lies.

Local numbers are measured on this machine (latency at batch 1, throughput at the best batch
size, accuracy when the images carry labels, peak memory). Cloud costs come from the price
table; no cloud call is made here (cloud providers arrive with the router), and the report says
so. The arithmetic lives in :mod:`localvision.advisor.costs`.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..api import engine_for, resolve_model
from ..cloud.audit import AuditLog, summarise, units_sent
from ..config import Settings
from ..engine import BUILTIN_FEATURES
from ..errors import (
    FeatureNotAvailableError,
    InvalidInputError,
    InvalidParameterError,
    LocalVisionError,
)
from ..imaging.decode import ImageLimits
from ..imaging.inputs import expand_image_paths
from ..metrics.agreement import agreement
from ..metrics.evaluation import evaluate
from ..models.model import Model
from ..training.dataset import load_dataset
from ..types import AnnotateRequest, Feature, FeatureRequest
from .costs import (
    PRICES,
    SECONDS_PER_MONTH,
    HardwareProfile,
    PriceEntry,
    break_even,
    cloud_cost,
    local_cost,
    price_for,
)

__all__ = ["compare"]

LATENCY_SAMPLES = 40
THROUGHPUT_IMAGES = 64
CURVE_VOLUMES = [10 ** (3 + i / 8) for i in range(49)]  # 1,000 .. 1,000,000,000 a month


def compare(
    data: Path,
    *,
    features: Sequence[Feature],
    volume: float,
    settings: Settings,
    hardware: HardwareProfile,
    providers: Sequence[str] = ("google", "aws", "azure"),
    models: Mapping[str, str] | None = None,
    prices: Sequence[PriceEntry] = PRICES,
    measure_cloud: bool = False,
    cloud_sample: int = 20,
    yes: bool = False,
) -> dict[str, Any]:
    """Every number of the comparison, JSON-ready.

    With ``measure_cloud``, configured providers (egress allowed) also get up to
    ``cloud_sample`` images: their latency and their agreement with the local answers are
    measured. Above $0.10 of estimated spend that needs ``yes``.
    """
    paths = [Path(p) for p in expand_image_paths([str(data)])]
    if not paths:
        raise InvalidInputError(f"No images found in {data}.")
    loaded = _models(features, settings, models or {})
    measured = []
    skipped = 0
    cloud_measured: dict[str, Any] = {}
    try:
        for feature in features:
            row, failed = _measure(feature, loaded.get(feature), paths, settings)
            measured.append(row)
            skipped = max(skipped, failed)
        accuracy = _accuracy(data, loaded.get(Feature.LABELS), settings)
        if measure_cloud:
            cloud_measured = _measure_cloud(
                providers, paths[:cloud_sample], features, loaded, settings, prices, yes
            )
    finally:
        for model in loaded.values():
            model.close()
    per_image_s = sum(1 / row["throughput_per_s"] for row in measured)
    rate = 1 / per_image_s
    local_monthly = local_cost(hardware, volume, rate)
    capacity = rate * SECONDS_PER_MONTH * hardware.utilisation
    cloud: dict[str, Any] = {}
    for provider in providers:
        entries = [price_for(provider, f.value, prices) for f in features]
        per_feature = {e.feature: cloud_cost(e, volume) for e in entries}
        cloud[provider] = {
            "monthly_cost": sum(per_feature.values()),
            "per_feature": per_feature,
            "prices": [e.to_dict() for e in entries],
            "measured": provider in cloud_measured,
            **cloud_measured.get(provider, {}),
        }

    def local_at(v: float) -> float:
        return local_cost(hardware, v, rate)

    def cloud_at(provider: str) -> Any:
        entries = [price_for(provider, f.value, prices) for f in features]
        return lambda v: sum(cloud_cost(e, v) for e in entries)

    breaks = {p: break_even(local_at, cloud_at(p), low=100, high=1e10) for p in providers}
    curves = {"volumes": CURVE_VOLUMES, "local": [local_at(v) for v in CURVE_VOLUMES]}
    curves.update({p: [cloud_at(p)(v) for v in CURVE_VOLUMES] for p in providers})
    report = {
        "images": len(paths),
        "skipped_images": skipped,
        "volume_per_month": volume,
        "features": [f.value for f in features],
        "measurements": measured,
        "accuracy": accuracy,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "hardware": hardware.to_dict(),
        "local": {
            "images_per_second": rate,
            "monthly_cost": local_monthly,
            "cost_per_1000": local_monthly / volume * 1000 if volume else None,
            "capacity_per_month": capacity,
            "machines": max(1, math.ceil(volume / capacity)),
            "headroom": capacity / volume if volume else None,
        },
        "cloud": cloud,
        "cloud_calls": sum(m["calls"] for m in cloud_measured.values()),
        "cloud_note": (
            f"Measured {', '.join(cloud_measured)} on {min(len(paths), cloud_sample)} images; "
            "costs from list prices."
            if cloud_measured
            else "No cloud call was made: cloud costs are estimated from list prices only."
        ),
        "break_even": breaks,
        "curves": curves,
    }
    report["recommendation"] = _recommend(report)
    report["factors"] = _factors(report, hardware)
    return report


def _models(
    features: Sequence[Feature], settings: Settings, names: Mapping[str, str]
) -> dict[Feature, Model]:
    """The model measured for each feature that needs one: ``--models``, else ``[features]``,
    else the only configured or registered model of the feature's kind."""
    out: dict[Feature, Model] = {}
    try:
        for feature in features:
            if feature in BUILTIN_FEATURES:
                continue
            name = names.get(feature.value) or settings.features.get(feature.value)
            out[feature] = resolve_model(name, settings) if name else _only_model(feature, settings)
    except BaseException:
        for model in out.values():
            model.close()
        raise
    return out


_KIND = {Feature.LABELS: ("classify", "classifier"), Feature.OBJECTS: ("detect", "detector")}


def _only_model(feature: Feature, settings: Settings) -> Model:
    """The one configured or registered model whose card answers ``feature``; an error that
    names the candidates when there are none or several."""
    task, kind = _KIND.get(feature, ("", "model"))
    found: list[Model] = []
    for name in _candidates(settings):
        try:
            model = resolve_model(name, settings)
        except LocalVisionError:
            continue  # a model that does not load is not a candidate
        if model.card.task == task:
            found.append(model)
        else:
            model.close()
    if len(found) == 1:
        return found[0]
    listed = ", ".join(m.name for m in found)
    for model in found:
        model.close()
    if found:
        raise FeatureNotAvailableError(
            f"No model for {feature.value!r} is chosen, and several {kind}s could be measured: "
            f"{listed}.",
            hint=f"Pass --models {feature.value}=NAME or configure [features].",
        )
    raise FeatureNotAvailableError(
        f"No model for {feature.value!r} to measure: none is configured or registered.",
        hint=f"Pass --models {feature.value}=NAME, configure [features], or register one with "
        "localvision models add NAME FILE.",
    )


def _candidates(settings: Settings) -> list[str]:
    """Every model a bare name reaches: configured ones, then registered ones."""
    names = list(settings.models)
    if (settings.home / "registry" / "registry.db").is_file():
        from ..registry import Registry

        registered = {entry.name for entry in Registry(settings.home).entries()}
        names += sorted(registered - set(names))
    return names


def _measure(
    feature: Feature, model: Model | None, paths: list[Path], settings: Settings
) -> tuple[dict[str, Any], int]:
    request = [FeatureRequest(feature)]
    models = {feature: model} if model is not None else {}
    slow = feature in (Feature.TEXT, Feature.DOCUMENT_TEXT, Feature.FACES)
    sample = paths[: (10 if slow else LATENCY_SAMPLES)]
    latencies: list[float] = []
    failed = 0
    with engine_for(models, settings.model_copy(update={"batch_size": 1})) as engine:
        engine.annotate([AnnotateRequest(sample[0], request)])  # warm-up
        for path in sample:
            start = time.perf_counter()
            (result,) = engine.annotate([AnnotateRequest(path, request)])
            latencies.append(time.perf_counter() - start)
            failed += result.error is not None
    best = (0.0, 1)
    stream = (paths * math.ceil(THROUGHPUT_IMAGES / len(paths)))[
        : 16 if slow else THROUGHPUT_IMAGES
    ]
    for batch in (1, 8, 16):
        with engine_for(models, settings.model_copy(update={"batch_size": batch})) as engine:
            start = time.perf_counter()
            engine.annotate([AnnotateRequest(p, request) for p in stream])
            rate = len(stream) / (time.perf_counter() - start)
        best = max(best, (rate, batch))
    return {
        "feature": feature.value,
        "model": model.name if model is not None else "built-in",
        "latency_ms": _percentiles(latencies),
        "latency_samples_ms": [round(1000 * x, 3) for x in latencies],
        "throughput_per_s": best[0],
        "best_batch": best[1],
    }, failed


def _accuracy(data: Path, model: Model | None, settings: Settings) -> dict[str, Any]:
    if model is None:
        return {"note": "No labels feature was compared."}
    if not any(p.is_dir() for p in data.iterdir()):
        return {
            "note": "The images carry no labels (no class folders), so accuracy is not measured."
        }
    dataset = load_dataset(data)
    result = evaluate(
        model, dataset, limits=ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    )
    return {
        "top1": result.accuracy,
        "top5": result.top5,
        "images": result.count,
        "per_class": result.per_class,
    }


def _measure_cloud(
    providers: Sequence[str],
    paths: list[Path],
    features: Sequence[Feature],
    models: Mapping[Feature, Model],
    settings: Settings,
    prices: Sequence[PriceEntry],
    yes: bool,
) -> dict[str, Any]:
    """Latency of, and agreement with, each configured provider on the sample."""
    from ..cloud.providers import configured as configured_providers
    from ..cloud.providers import open_provider

    configured = [p for p in providers if p in configured_providers(settings)]
    if not configured:
        return {}
    estimate = sum(
        len(paths) * price_for(p, f.value, prices).tiers[0].per_1000 / 1000
        for p in configured
        for f in features
    )
    if estimate > 0.10 and not yes:
        raise InvalidInputError(
            f"Measuring the cloud would send {len(paths)} images and cost about ${estimate:.2f}.",
            hint="Pass --yes to spend it, or fewer images with --cloud-sample.",
        )
    requests = [
        AnnotateRequest(p, [FeatureRequest(f) for f in features], name=str(p)) for p in paths
    ]
    with engine_for(dict(models), settings) as engine:
        local = engine.annotate(requests)
    out: dict[str, Any] = {}
    for name in configured:
        provider = open_provider(name, settings)
        try:
            latencies = []
            answers = []
            for request in requests:
                start = time.perf_counter()
                (answer,) = provider.annotate([request])
                latencies.append(time.perf_counter() - start)
                answers.append(answer)
        finally:
            provider.close()
        out[name] = {
            "calls": len(requests),
            "latency_ms": _percentiles(latencies),
            "latency_samples_ms": [round(1000 * x, 3) for x in latencies],
            "agreement": agreement(local, answers),
            "failed": sum(a.error is not None for a in answers),
        }
    return out


def from_audit(
    log: AuditLog, since: float = 0.0, prices: Sequence[PriceEntry] = PRICES
) -> dict[str, Any]:
    """Live traffic instead of a sample: the router's shadow agreement and what was sent to
    each provider since ``since``, priced at list price (unpriced entries count as zero)."""
    records = [r for r in log.entries(since) if not r.refused]
    units: dict[tuple[str, str], int] = {}
    for (_, provider, feature), count in units_sent(records).items():
        units[(provider, feature)] = units.get((provider, feature), 0) + count
    spend: dict[str, float] = {}
    for (provider, feature), count in units.items():
        try:
            cost = cloud_cost(price_for(provider, feature, prices), count)
        except InvalidParameterError:
            cost = 0.0  # a provider or feature the table does not price
        spend[provider] = spend.get(provider, 0.0) + cost
    return {
        "shadow": log.shadow_summary(since),
        "egress": summarise(records),
        "spend_usd": spend,
        "images_by_feature": {f"{p}/{f}": n for (p, f), n in sorted(units.items())},
    }


def _percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds."""
    return {q: 1000 * float(np.percentile(seconds, int(q[1:]))) for q in ("p50", "p95", "p99")}


def _recommend(report: dict[str, Any]) -> str:
    volume = report["volume_per_month"]
    local = report["local"]["monthly_cost"]
    provider, cheapest = min(
        ((p, c["monthly_cost"]) for p, c in report["cloud"].items()), key=lambda pair: pair[1]
    )
    even = report["break_even"].get(provider)
    where = f"; break-even with {provider} at {even:,.0f} images/month" if even else ""
    if local <= cheapest:
        return (
            f"Run locally: ${local:,.0f}/month against ${cheapest:,.0f} on {provider} at "
            f"{volume:,.0f} images/month{where}."
        )
    return (
        f"Use {provider} at this volume: ${cheapest:,.0f}/month against ${local:,.0f} locally "
        f"at {volume:,.0f} images/month{where}."
    )


def _factors(report: dict[str, Any], hardware: HardwareProfile) -> list[dict[str, str]]:
    local = report["local"]
    headroom = local["headroom"]
    return [
        {
            "factor": "Where the data goes",
            "local": "Images stay on this machine.",
            "cloud": "Every image is sent to the provider's region (see their data terms).",
        },
        {
            "factor": "Lock-in",
            "local": "localvision answers the Google, AWS and OIP APIs: switching changes an "
            "endpoint, not client code.",
            "cloud": "Client code is written against one vendor's API and SDK.",
        },
        {
            "factor": "Operations",
            "local": "You update, patch and monitor it (priced at "
            f"{hardware.ops_hours_per_month:g} h/month in the local cost).",
            "cloud": "The provider runs it; you watch quotas, bills and deprecations.",
        },
        {
            "factor": "Scaling headroom",
            "local": f"Measured {local['images_per_second']:.1f} images/s = "
            f"{local['capacity_per_month']:,.0f}/month at {hardware.utilisation:.0%} load "
            f"per machine: {headroom:.1f}x the stated volume."
            if headroom
            else "",
            "cloud": "Elastic within the provider's quotas (which are raised on request).",
        },
    ]

"""What the storage tests share: a fixture over every stand-in, a registry holding the colour
model, and a check that a model classifies as it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localvision import load_model
from localvision.registry import ModelVersion, Registry

from ..builders import COLOUR_LABELS
from ..conftest import solid_jpeg
from ..storage_stand_ins import StandIn

STORES = ["s3", "gs", "az", "file"]
_FIXTURES = {
    "s3": "s3_stand_in",
    "gs": "gcs_stand_in",
    "az": "azure_blob_stand_in",
    "file": "file_stand_in",
}
CARD = {"input_range": "0..1", "labels": list(COLOUR_LABELS)}
RED, GREEN, BLUE = (240, 10, 10), (10, 230, 10), (10, 10, 240)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> StandIn:
    """Each stand-in in turn: moto (S3), the GCS emulator, Azurite, a folder."""
    stand_in: StandIn = request.getfixturevalue(_FIXTURES[request.param])
    return stand_in


@pytest.fixture(params=[scheme for scheme in STORES if scheme != "file"])
def remote_store(request: pytest.FixtureRequest) -> StandIn:
    """Each stand-in reached over the network (a folder cannot be down): S3, GCS, Azure."""
    stand_in: StandIn = request.getfixturevalue(_FIXTURES[request.param])
    return stand_in


def colours_registry(home: Path, model: Path) -> tuple[Registry, ModelVersion]:
    """A registry under ``home`` with the colour model as ``colours@1``: card, labels,
    metrics, licence and lineage all set, so a round trip can be checked field by field."""
    registry = Registry(home)
    entry = registry.add(
        "colours",
        model,
        format_name="onnx",
        card=CARD,
        metrics={"val_accuracy": 0.97},
        lineage={"source": str(model), "dataset": "colours-v1"},
        license="Apache-2.0",
    )
    return registry, entry


def classifies(path: Path, card: dict[str, object]) -> list[str]:
    """The top label of the model at ``path`` for red, green and blue images."""
    with load_model(path, card=card) as model:
        answers = model.classify([solid_jpeg(c) for c in (RED, GREEN, BLUE)], top_k=1)
    return [labels[0][0] for labels in answers]


def manifest_at(stand_in: StandIn, version_uri: str) -> dict[str, object]:
    """The manifest under a version folder, read with the storage layer."""
    from localvision.storage import read_object

    data = read_object(f"{version_uri}/manifest.json", max_bytes=1 << 20, environ=stand_in.env)
    loaded: dict[str, object] = json.loads(data)
    return loaded

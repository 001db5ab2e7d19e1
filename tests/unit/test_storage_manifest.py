"""manifest.json: a round trip, a newer format refused with what to do, malformed ones named,
and the card written as the sidecar load_model reads."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from localvision.errors import StorageError
from localvision.models.card import find_sidecar, read_sidecar
from localvision.storage import MANIFEST_FORMAT, Manifest
from localvision.storage.card_file import card_toml

SHA = "ab" * 32


def manifest(**changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "name": "pets",
        "version": 3,
        "file": "pets.onnx",
        "sha256": SHA,
        "size": 1234,
        "format": "onnx",
        "card": {"labels": ["cat", "dog"], "input_range": "0..1"},
        "labels": ["cat", "dog"],
        "lineage": {"source": "pets.onnx"},
        "metrics": {"val_accuracy": 0.9},
        "license": "MIT",
        "created": 1767225600.5,
        "localvision": "0.1.0",
    }
    fields.update(changes)
    return Manifest(**fields)


def test_round_trip() -> None:
    original = manifest()
    text = original.to_json()
    assert json.loads(text)["format_version"] == MANIFEST_FORMAT
    assert next(iter(json.loads(text))) == "format_version"
    assert Manifest.from_json(text, source="s3://b/pets/3/manifest.json") == original
    assert original.ref == "pets@3"
    bare = manifest(labels=None, license=None)
    assert Manifest.from_json(bare.to_json(), source="x") == bare


def test_unknown_fields_of_the_same_format_are_ignored() -> None:
    data = json.loads(manifest().to_json())
    data["added_later"] = {"x": 1}
    assert Manifest.from_json(json.dumps(data), source="m") == manifest()


def test_a_newer_format_says_to_upgrade() -> None:
    data = json.loads(manifest().to_json())
    data.update(format_version=99, localvision="9.0.0")
    with pytest.raises(StorageError, match="manifest format 99.*9.0.0") as raised:
        Manifest.from_json(json.dumps(data), source="gs://b/pets/3/manifest.json")
    assert "gs://b/pets/3/manifest.json" in raised.value.message
    assert raised.value.hint is not None and "Upgrade localvision" in raised.value.hint


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (None, "not JSON"),
        ([1, 2], "not a JSON object"),
        ({"format_version": "1"}, "format_version"),
        ({"format_version": 0}, "format_version"),
        ({"sha256": "ABC"}, "sha256"),
        ({"sha256": None}, "sha256"),
        ({"size": -1}, "negative"),
        ({"size": True}, "size"),
        ({"version": "3"}, "version"),
        ({"file": "../../etc/passwd"}, "plain file name"),
        ({"file": "dir/pets.onnx"}, "plain file name"),
        ({"file": "manifest.json"}, "plain file name"),
        ({"labels": "cat"}, "labels"),
        ({"labels": [1, 2]}, "labels"),
        ({"card": []}, "card"),
        # a card pointing at a file of the reading machine would leak it as labels
        ({"card": {"labels_file": "/etc/localvision/localvision.toml"}}, "labels_file"),
        ({"license": 5}, "license"),
    ],
)
def test_malformed_manifests_name_their_source(change: Any, says: str) -> None:
    if change is None:
        text = "{not json"
    elif isinstance(change, list):
        text = json.dumps(change)
    else:
        data = json.loads(manifest().to_json())
        data.update(change)
        text = json.dumps(data)
    with pytest.raises(StorageError, match=says) as raised:
        Manifest.from_json(text, source="az://c/pets/3/manifest.json")
    assert raised.value.message.startswith("az://c/pets/3/manifest.json")


def test_the_card_is_written_as_the_sidecar_load_model_reads(tmp_path: Path) -> None:
    card = {
        "labels": ["cat", 'say "hi"', "naïve", "tab\there"],
        "input_range": "0..1",
        "mean": [0.485, 0.456, 0.406],
        "std": [1e-05, 2.0, 3.5],
        "top_k": 5,
        "bgr": False,
        "nested": {"a key": [1, 2], "b": "x"},
        "missing": None,
        "with none": [1, None],
        "odd\x7fkey": "del\x7f",
    }
    text = card_toml(card)
    parsed = tomllib.loads(text)
    assert parsed == {k: v for k, v in card.items() if k not in ("missing", "with none")}

    model = tmp_path / "pets.onnx"
    model.write_bytes(b"")
    sidecar = tmp_path / "pets.card.toml"
    sidecar.write_text(card_toml({"labels": ["cat", "dog"], "input_range": "0..1"}))
    assert find_sidecar(model) == sidecar
    fields = read_sidecar(sidecar).given()
    assert list(fields["labels"]) == ["cat", "dog"]
    assert card_toml({}) == ""

"""push then pull on every store (moto's S3, the GCS emulator, Azurite, a folder): the same
bytes, card, labels, metrics and lineage come back, and the pulled model classifies."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from localvision.errors import InvalidParameterError, StorageError, StorageNotFoundError
from localvision.registry import Registry
from localvision.storage import MANIFEST_FORMAT, pull, push, read_object

from ..builders import COLOUR_LABELS
from ..storage_stand_ins import StandIn
from .storage_support import CARD, classifies, colours_registry, manifest_at, store

__all__ = ["store"]  # the fixture, imported for pytest


def test_push_then_pull_round_trip(store: StandIn, tmp_path: Path, colour_model_path: Path) -> None:
    registry, entry = colours_registry(tmp_path / "publisher", colour_model_path)
    root = store.folder("round-trip")

    result = push(registry, "colours@1", root, environ=store.env)

    assert result.uri == f"{root}/colours/1"
    assert result.bytes == colour_model_path.stat().st_size
    assert result.manifest.sha256 == entry.sha256
    manifest = manifest_at(store, result.uri)
    assert manifest["format_version"] == MANIFEST_FORMAT
    assert manifest["file"] == "colours.onnx" and manifest["labels"] == list(COLOUR_LABELS)
    sidecar = read_object(f"{result.uri}/colours.card.toml", max_bytes=1 << 20, environ=store.env)
    assert tomllib.loads(sidecar.decode()) == CARD

    consumer = Registry(tmp_path / "consumer")
    pulled = pull(result.uri, consumer, environ=store.env)

    assert (pulled.name, pulled.version) == ("colours", 1)
    assert pulled.sha256 == entry.sha256
    assert pulled.path.read_bytes() == colour_model_path.read_bytes()
    assert pulled.card == CARD
    assert pulled.metrics == {"val_accuracy": 0.97}
    assert pulled.license == "Apache-2.0"
    assert pulled.format == "onnx"
    assert pulled.lineage == {
        "dataset": "colours-v1",
        "pushed_from": str(colour_model_path),
        "source": result.uri,
        "sha256": entry.sha256,
        "pushed_as": "colours@1",
    }
    assert classifies(pulled.path, pulled.card) == ["red", "green", "blue"]


def test_pull_a_model_folder_takes_its_newest_finished_version(
    store: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    registry, _ = colours_registry(tmp_path / "publisher", colour_model_path)
    other = tmp_path / "colours2.onnx"
    other.write_bytes(colour_model_path.read_bytes())
    second = registry.add("colours", other, format_name="onnx", card=CARD)
    registry.add("colours", other, format_name="onnx", card=CARD)  # version 3: never pushed
    root = store.folder("newest")
    push(registry, "colours@1", root, environ=store.env)
    push(registry, "colours@2", root, environ=store.env)
    # A push of version 10 cut off before its manifest: an artifact, no manifest.
    from ..storage_stand_ins import put_object

    put_object(store, f"{root}/colours/10/colours.onnx", b"half a push")

    pulled = pull(f"{root}/colours/", Registry(tmp_path / "consumer"), environ=store.env)

    assert pulled.lineage["source"] == f"{root}/colours/2"
    assert pulled.lineage["pushed_as"] == f"colours@{second.version}"


def test_pull_under_another_name_and_twice(
    store: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    registry, _ = colours_registry(tmp_path / "publisher", colour_model_path)
    result = push(registry, "colours", store.folder("renamed"), environ=store.env)
    consumer = Registry(tmp_path / "consumer")

    first = pull(result.uri, consumer, name="paints", environ=store.env)
    again = pull(result.uri, consumer, name="paints", environ=store.env)

    assert first.ref == "paints@1" and again.ref == "paints@1"
    assert [e.ref for e in consumer.entries()] == ["paints@1"]
    with pytest.raises(InvalidParameterError, match="names a version"):
        pull(result.uri, consumer, name="paints@2", environ=store.env)


def test_push_is_idempotent_and_never_overwrites_a_version(
    store: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    registry, _ = colours_registry(tmp_path / "publisher", colour_model_path)
    root = store.folder("idempotent")
    first = push(registry, "colours@1", root, environ=store.env)

    again = push(registry, "colours@1", root, environ=store.env)
    assert again.bytes == 0 and again.uri == first.uri
    assert again.manifest.sha256 == first.manifest.sha256

    # Another registry's version 1 is another model: pushing it there is refused.
    different = tmp_path / "different.onnx"
    different.write_bytes(colour_model_path.read_bytes() + b"\0")
    elsewhere = Registry(tmp_path / "elsewhere")
    elsewhere.add("colours", different, format_name="onnx")
    with pytest.raises(StorageError, match="never overwritten"):
        push(elsewhere, "colours@1", root, environ=store.env)
    assert manifest_at(store, first.uri)["sha256"] == first.manifest.sha256


def test_a_push_cut_off_before_its_manifest_is_not_a_version(
    store: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    """The manifest is written last; without it pull finds nothing, and the next push of the
    version completes the folder."""
    registry, _ = colours_registry(tmp_path / "publisher", colour_model_path)
    root = store.folder("cut-off")
    from ..storage_stand_ins import put_object

    put_object(store, f"{root}/colours/1/colours.onnx", colour_model_path.read_bytes()[:10])

    with pytest.raises(StorageNotFoundError, match="No pushed model"):
        pull(f"{root}/colours/1", Registry(tmp_path / "consumer"), environ=store.env)

    push(registry, "colours@1", root, environ=store.env)
    pulled = pull(f"{root}/colours/1", Registry(tmp_path / "consumer"), environ=store.env)
    assert pulled.path.read_bytes() == colour_model_path.read_bytes()


def test_a_push_that_fails_half_way_writes_no_manifest(
    file_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    """The artifact cannot be written (a folder is in its place): push fails, and the version
    folder has no manifest, so nothing will ever read it as a version."""
    registry, _ = colours_registry(tmp_path / "publisher", colour_model_path)
    root = file_stand_in.folder("half")
    folder = Path(root.removeprefix("file://")) / "colours" / "1"
    (folder / "colours.onnx").mkdir(parents=True)

    with pytest.raises(StorageError):
        push(registry, "colours@1", root, environ=file_stand_in.env)

    assert not (folder / "manifest.json").exists()
    with pytest.raises(StorageNotFoundError):
        pull(root + "/colours", Registry(tmp_path / "consumer"), environ=file_stand_in.env)

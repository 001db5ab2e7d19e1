"""fetch_model, the serving cache: downloaded once and verified; restarts need no network;
offline; tampered objects refused with nothing cached; interrupted downloads resumed or
restarted; two processes at once."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from localvision.api import resolve_model
from localvision.config import ModelConfig, Settings
from localvision.errors import ChecksumMismatchError, StorageError, StorageUnavailableError
from localvision.registry import Registry
from localvision.storage import PushResult, fetch_model, parse_uri, pull, push
from localvision.storage.cache import StorageCache

from ..storage_stand_ins import StandIn, closed_endpoint, put_object
from .storage_support import CARD, classifies, colours_registry, remote_store, store

__all__ = ["remote_store", "store"]  # the fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[2]


def away(stand_in: StandIn) -> dict[str, str]:
    """``stand_in``'s environment with its endpoint moved to a port where nothing listens: the
    store as it looks when it is down."""
    closed = closed_endpoint()
    if stand_in.scheme == "s3":
        return {**stand_in.env, "AWS_ENDPOINT_URL_S3": closed}
    if stand_in.scheme == "gs":
        return {**stand_in.env, "STORAGE_EMULATOR_HOST": closed}
    if stand_in.scheme == "az":
        connection = stand_in.env["AZURE_STORAGE_CONNECTION_STRING"]
        return {"AZURE_STORAGE_CONNECTION_STRING": connection.replace(stand_in.endpoint, closed)}
    raise AssertionError(f"{stand_in.scheme}:// stores cannot be made unreachable")


def pushed(stand_in: StandIn, tmp_path: Path, model: Path, name: str) -> PushResult:
    registry, _ = colours_registry(tmp_path / "publisher", model)
    return push(registry, "colours@1", stand_in.folder(name), environ=stand_in.env)


def cached_files(home: Path) -> list[str]:
    cache = StorageCache(home)
    folders = [folder for folder in (cache.objects, cache.partial) if folder.is_dir()]
    return sorted(path.name for folder in folders for path in folder.iterdir())


def test_downloaded_once_then_started_from_the_cache_with_the_store_down(
    remote_store: StandIn,
    tmp_path: Path,
    colour_model_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = remote_store
    down = away(store)
    result = pushed(store, tmp_path, colour_model_path, "restart")
    home = tmp_path / "server-home"

    first = fetch_model(result.uri, home, environ=store.env)
    assert not first.from_cache
    assert first.path.read_bytes() == colour_model_path.read_bytes()
    assert first.manifest == result.manifest
    assert classifies(first.path, first.manifest.card) == ["red", "green", "blue"]

    with caplog.at_level(logging.INFO, logger="localvision.storage"):
        again = fetch_model(result.uri + "/", home, environ=down)  # same URI, trailing slash
    assert again.from_cache and again.path == first.path and again.manifest == first.manifest
    # A version folder never changes: the store is not even tried.
    assert "storage not contacted" in caplog.text and "cannot be reached" not in caplog.text

    offline = fetch_model(result.uri, home, offline=True, environ=down)
    assert offline.from_cache and offline.path == first.path

    with pytest.raises(StorageUnavailableError, match="Cannot reach"):
        fetch_model(result.uri, tmp_path / "empty-home", environ=down)


def test_offline_without_a_cached_copy_refuses(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    result = pushed(s3_stand_in, tmp_path, colour_model_path, "offline")
    with pytest.raises(StorageUnavailableError, match="--offline") as raised:
        fetch_model(result.uri, tmp_path / "home", offline=True, environ=s3_stand_in.env)
    assert raised.value.hint is not None and "without --offline" in raised.value.hint
    assert cached_files(tmp_path / "home") == []


def test_a_model_folder_follows_new_versions_and_falls_back_to_the_cache(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry, first = colours_registry(tmp_path / "publisher", colour_model_path)
    root = s3_stand_in.folder("latest")
    push(registry, "colours@1", root, environ=s3_stand_in.env)
    home = tmp_path / "server-home"

    one = fetch_model(f"{root}/colours", home, environ=s3_stand_in.env)
    assert one.manifest.version == 1 and not one.from_cache

    newer = tmp_path / "newer.onnx"
    newer.write_bytes(colour_model_path.read_bytes() + b"\0")  # ONNX ignores trailing bytes
    registry.add("colours", newer, format_name="onnx", card=CARD)
    push(registry, "colours@2", root, environ=s3_stand_in.env)

    two = fetch_model(f"{root}/colours", home, environ=s3_stand_in.env)
    assert two.manifest.version == 2 and not two.from_cache
    assert two.path.read_bytes() == newer.read_bytes()

    with caplog.at_level(logging.WARNING, logger="localvision.storage"):
        fallback = fetch_model(f"{root}/colours", home, environ=away(s3_stand_in))
    assert fallback.from_cache and fallback.manifest.version == 2
    assert "cannot be reached" in caplog.text and "colours@2" in caplog.text

    # The version folder it resolved to starts from the cache without the store.
    pinned = fetch_model(f"{root}/colours/2", home, environ=away(s3_stand_in))
    assert pinned.from_cache and pinned.path == two.path
    assert first.version == 1


@pytest.mark.parametrize("same_size", [True, False], ids=["same-size", "other-size"])
def test_a_tampered_object_is_refused_and_nothing_is_cached(
    store: StandIn, tmp_path: Path, colour_model_path: Path, same_size: bool
) -> None:
    result = pushed(store, tmp_path, colour_model_path, "tampered")
    original = colour_model_path.read_bytes()
    forged = bytes(b ^ 0xFF for b in original) if same_size else original + b"extra"
    put_object(store, f"{result.uri}/{result.manifest.file}", forged)
    home = tmp_path / "server-home"

    with pytest.raises(ChecksumMismatchError, match="corrupted or changed") as raised:
        fetch_model(result.uri, home, environ=store.env)
    assert result.uri in str(raised.value)
    assert cached_files(home) == []
    with pytest.raises(ChecksumMismatchError):
        pull(result.uri, Registry(tmp_path / "consumer"), environ=store.env)
    assert Registry(tmp_path / "consumer").entries() == []


def test_an_interrupted_download_is_resumed(
    store: StandIn, tmp_path: Path, colour_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = pushed(store, tmp_path, colour_model_path, "resume")
    original = colour_model_path.read_bytes()
    home = tmp_path / "server-home"
    part = StorageCache(home).part_path(result.manifest.sha256)
    part.parent.mkdir(parents=True)
    part.write_bytes(original[: len(original) // 2])

    with caplog.at_level(logging.INFO, logger="localvision.storage"):
        fetched = fetch_model(result.uri, home, environ=store.env)

    assert f"at byte {len(original) // 2:,}" in caplog.text
    assert fetched.path.read_bytes() == original
    assert not part.exists()


def test_a_part_file_of_garbage_is_downloaded_again(
    store: StandIn, tmp_path: Path, colour_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = pushed(store, tmp_path, colour_model_path, "garbage")
    original = colour_model_path.read_bytes()
    home = tmp_path / "server-home"
    part = StorageCache(home).part_path(result.manifest.sha256)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\x00garbage" * 10)

    with caplog.at_level(logging.INFO, logger="localvision.storage"):
        fetched = fetch_model(result.uri, home, environ=store.env)

    assert "did not verify after resuming" in caplog.text
    assert fetched.path.read_bytes() == original and not part.exists()


def test_a_resumed_download_across_chunks(s3_stand_in: StandIn, tmp_path: Path) -> None:
    """A 9 MiB artifact crosses the 8 MiB read size; resumed from the middle of the first
    chunk it still comes out whole (and a longer-than-the-object .part is started over)."""
    big = tmp_path / "big.onnx"
    big.write_bytes(os.urandom(9 * 1024**2))
    registry = Registry(tmp_path / "publisher")
    registry.add("big", big, format_name="onnx")
    result = push(registry, "big@1", s3_stand_in.folder("chunks"), environ=s3_stand_in.env)
    home = tmp_path / "server-home"
    part = StorageCache(home).part_path(result.manifest.sha256)
    part.parent.mkdir(parents=True)
    part.write_bytes(big.read_bytes()[: 3 * 1024**2])

    fetched = fetch_model(result.uri, home, environ=s3_stand_in.env)
    assert fetched.path.read_bytes() == big.read_bytes()

    other = tmp_path / "other-home"
    longer = StorageCache(other).part_path(result.manifest.sha256)
    longer.parent.mkdir(parents=True)
    longer.write_bytes(b"x" * (10 * 1024**2))
    assert fetch_model(result.uri, other, environ=s3_stand_in.env).path.read_bytes() == (
        big.read_bytes()
    )


def test_a_manifest_from_a_newer_localvision_is_refused(
    store: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    result = pushed(store, tmp_path, colour_model_path, "newer")
    manifest = json.loads(result.manifest.to_json())
    manifest["format_version"] = 99
    manifest["localvision"] = "9.0.0"
    put_object(store, f"{result.uri}/manifest.json", json.dumps(manifest).encode())

    with pytest.raises(StorageError, match="manifest format 99") as raised:
        fetch_model(result.uri, tmp_path / "home", environ=store.env)
    assert raised.value.hint is not None and "Upgrade localvision" in raised.value.hint
    with pytest.raises(StorageError, match="newer localvision"):
        pull(result.uri, Registry(tmp_path / "consumer"), environ=store.env)


def test_two_processes_fetching_at_once_share_one_download(
    s3_stand_in: StandIn, tmp_path: Path
) -> None:
    big = tmp_path / "big.onnx"
    big.write_bytes(os.urandom(12 * 1024**2))
    registry = Registry(tmp_path / "publisher")
    registry.add("big", big, format_name="onnx")
    result = push(registry, "big@1", s3_stand_in.folder("together"), environ=s3_stand_in.env)
    home = tmp_path / "server-home"
    script = textwrap.dedent(
        f"""
        import json, os
        from pathlib import Path
        from localvision.storage import fetch_model
        got = fetch_model({result.uri!r}, Path({str(home)!r}), environ=dict(os.environ))
        print(json.dumps([str(got.path), got.from_cache]))
        """
    )
    env = {**os.environ, **s3_stand_in.env}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs

    paths = {json.loads(out)[0] for out in outputs}
    assert len(paths) == 1
    assert Path(paths.pop()).read_bytes() == big.read_bytes()
    assert cached_files(home) == [f"{result.manifest.sha256}.onnx"]


def test_a_local_folder_refilled_with_a_new_version_is_not_served_from_the_cache(
    file_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    """KServe's storage initializer copies each rollout's version folder to the same
    /mnt/models: the same file:// URI then holds another model, and that one is served."""
    registry, _ = colours_registry(tmp_path / "publisher", colour_model_path)
    newer = tmp_path / "newer.onnx"
    newer.write_bytes(colour_model_path.read_bytes() + b"\0")  # ONNX ignores trailing bytes
    registry.add("colours", newer, format_name="onnx", card=CARD)
    root = file_stand_in.folder("kserve")
    push(registry, "colours@1", root, environ=file_stand_in.env)
    push(registry, "colours@2", root, environ=file_stand_in.env)
    published = Path(parse_uri(root).key) / "colours"
    mounted = tmp_path / "mnt" / "models"
    home = tmp_path / "server-home"

    shutil.copytree(published / "1", mounted)
    first = fetch_model(mounted.as_uri(), home)
    assert first.manifest.version == 1

    shutil.rmtree(mounted)
    shutil.copytree(published / "2", mounted)  # the rollout to version 2
    second = fetch_model(mounted.as_uri(), home)
    assert second.manifest.version == 2 and not second.from_cache
    assert second.path.read_bytes() == newer.read_bytes()


def test_a_pinned_sha256_refuses_another_model_before_downloading_it(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    """Whoever may write the bucket may rewrite the manifest with the model; a pin kept in the
    serving config is out of their reach."""
    result = pushed(s3_stand_in, tmp_path, colour_model_path, "pinned")
    home = tmp_path / "server-home"
    with pytest.raises(ChecksumMismatchError, match="not the pinned " + "0" * 64):
        fetch_model(result.uri, home, environ=s3_stand_in.env, sha256="0" * 64)
    assert cached_files(home) == []
    pin = result.manifest.sha256
    fetched = fetch_model(result.uri, home, environ=s3_stand_in.env, sha256=pin.upper())
    assert fetched.manifest.sha256 == pin and not fetched.from_cache
    # Cached now; a different pin does not take the cached copy for the pinned model.
    with pytest.raises(ChecksumMismatchError):
        fetch_model(result.uri, home, environ=s3_stand_in.env, sha256="1" * 64)


def test_a_configured_models_pin_is_checked_when_it_is_served(
    s3_stand_in: StandIn,
    tmp_path: Path,
    colour_model_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = pushed(s3_stand_in, tmp_path, colour_model_path, "configured-pin")
    for name, value in s3_stand_in.env.items():
        monkeypatch.setenv(name, value)
    pinned = ModelConfig(path=result.uri, sha256="0" * 64)
    settings = Settings(home=tmp_path / "server-home", models={"pets": pinned})
    with pytest.raises(ChecksumMismatchError, match="pinned"):
        resolve_model("pets", settings)
    right = ModelConfig(path=result.uri, sha256=result.manifest.sha256)
    model = resolve_model("pets", settings.model_copy(update={"models": {"pets": right}}))
    model.close()
    assert list(model.card.labels or []) == CARD["labels"]  # the pinned model, with its card

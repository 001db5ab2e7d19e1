"""``[storage]``, model paths that are storage URIs, and ``serve --model NAME=URI --offline``."""

from __future__ import annotations

from pathlib import Path

import pytest

from localvision.cli.serve import _server_settings
from localvision.config import Settings, StorageSettings
from localvision.errors import ConfigError


def test_storage_is_closed_and_online_by_default() -> None:
    storage = Settings().storage
    assert storage.allow == [] and storage.offline is False


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("file:///srv/photos", "is not a bucket URI"),  # never the server's own disk
        ("photos", "is not a bucket URI"),
        ("s3://", "is not a bucket URI"),
        ("http://photos.example.com", "is not a bucket URI"),
        ("gs://team/../private", "may not contain '.' or '..'"),
    ],
)
def test_allow_entries_must_be_buckets(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StorageSettings(allow=[entry])


def test_allow_entries_read_from_the_file_keep_their_message(tmp_path: Path) -> None:
    config = tmp_path / "localvision.toml"
    config.write_text('[storage]\nallow = ["s3://photos", "ftp://x"]\n')
    with pytest.raises(ConfigError, match="'ftp://x' is not a bucket URI") as info:
        Settings.load(config, environ={"LOCALVISION_HOME": str(tmp_path)})
    assert "s3://BUCKET" in str(info.value)


def test_a_model_uri_in_the_file_is_not_made_relative_to_it(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "localvision.toml"
    config.parent.mkdir()
    config.write_text(
        '[models.pets]\npath = "s3://models/pets/3/"\n'
        '[models.local]\npath = "models/local.onnx"\n'
        '[storage]\noffline = true\nallow = ["gs://team-images/incoming"]\n'
    )
    settings = Settings.load(config, environ={"LOCALVISION_HOME": str(tmp_path)})
    assert settings.models["pets"].path == "s3://models/pets/3/"
    assert settings.models["local"].path == str(config.parent / "models" / "local.onnx")
    assert settings.storage.offline is True
    assert settings.storage.allow == ["gs://team-images/incoming"]


def _cli(settings: Settings, models: list[str], *, offline: bool = False) -> Settings:
    return _server_settings(
        settings, None, None, None, models, {}, False, local_only=False, offline=offline
    )


def test_serve_model_uris_stay_uris_and_paths_expand(tmp_path: Path) -> None:
    settings = _cli(Settings(home=tmp_path), ["pets=s3://bucket/models/pets/3/", "local=~/m.onnx"])
    assert settings.models["pets"].path == "s3://bucket/models/pets/3/"
    assert settings.models["local"].path == str(Path("~/m.onnx").expanduser())
    assert settings.storage.offline is False


def test_serve_offline_sets_storage_offline_and_keeps_the_allow_list(tmp_path: Path) -> None:
    configured = Settings(home=tmp_path, storage=StorageSettings(allow=["s3://photos"]))
    settings = _cli(configured, [], offline=True)
    assert settings.storage.offline is True
    assert settings.storage.allow == ["s3://photos"]

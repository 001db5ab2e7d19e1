from __future__ import annotations

from pathlib import Path

import pytest

from localvision.config import Settings, default_home
from localvision.errors import ConfigError


def test_defaults_without_file_or_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.load(environ={"LOCALVISION_HOME": str(tmp_path / "h")})
    assert settings.home == tmp_path / "h"
    assert settings.max_image_bytes == 20 * 1024 * 1024
    assert settings.max_image_pixels == 50_000_000
    assert settings.allow_pickle is False
    assert settings.cache_dir == tmp_path / "h" / "cache"


def test_default_home_is_under_the_user_home() -> None:
    assert default_home({}) == Path.home() / ".localvision"


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "localvision.toml"
    config.write_text(
        'threads = 2\nbatch_size = 4\nproviders = ["cpu"]\n'
        '[models.m]\npath = "models/m.onnx"\n[features]\nlabels = "m"\n'
    )
    env = {"LOCALVISION_BATCH_SIZE": "8", "LOCALVISION_PROVIDERS": "cuda, cpu"}
    settings = Settings.load(config, environ=env, threads=None, max_image_pixels=1000)
    assert settings.threads == 2  # None override ignored
    assert settings.batch_size == 8  # environment beats file
    assert settings.providers == ["cuda", "cpu"]
    assert settings.max_image_pixels == 1000
    # Relative model paths are relative to the config file, not the working directory.
    assert settings.models["m"].path == str(tmp_path / "models" / "m.onnx")
    assert settings.features == {"labels": "m"}


def test_local_config_file_is_found_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "localvision.toml").write_text("batch_size = 3\n")
    monkeypatch.chdir(tmp_path)
    assert Settings.load(environ={}).batch_size == 3


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("batch_size = 0\n", "batch_size"),
        ("unknown_key = 1\n", "unknown_key"),
        ("batch_size = \n", "not valid TOML"),
    ],
)
def test_invalid_config_names_the_problem(tmp_path: Path, content: str, match: str) -> None:
    config = tmp_path / "localvision.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=match):
        Settings.load(config, environ={})


def test_invalid_environment_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_image_bytes"):
        Settings.load(environ={"LOCALVISION_MAX_IMAGE_BYTES": "lots"})


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("router", "message"),
    [
        ('routes = { labels = ["local", "google"] }', "put it last"),
        ('routes = { labels = ["google", "google"] }', "each route once"),
        ('routes = { smell = ["google"] }', "Unknown feature 'smell'"),
        ('routes = { labels = ["google"] }\nbudgets = { "google/smell" = 1.0 }', "Unknown feature"),
        ("budgets = { google = 5.0 }", r"budgets name providers no route uses: \['google'\]"),
        ('privacy = ["telepathy"]', r"Unknown privacy checks \['telepathy'\]"),
        ("patterns = ['(unclosed']", "A privacy pattern does not compile"),
        (
            'routes = { labels = ["google"] }\nredact = { google = ["licence plates"] }',
            r"redact\.google: \['licence plates'\] cannot be redacted",
        ),
        ('redact = { google = ["faces"] }', "redact names a provider no route uses: google"),
        ('burst = "local"', "burst must name a cloud provider, not 'local'"),
    ],
)
def test_a_contradictory_router_fails_when_the_config_is_loaded(
    tmp_path: Path, router: str, message: str
) -> None:
    config = tmp_path / "localvision.toml"
    config.write_text(f"[cloud.router]\n{router}\n")
    with pytest.raises(ConfigError, match=message) as info:
        Settings.load(config, environ={"LOCALVISION_HOME": str(tmp_path)})
    # the router's own message, not pydantic's wording around it; the hint names the file
    assert info.value.message.startswith(("[cloud.router] ", "Unknown privacy", "A privacy"))
    assert info.value.hint == f"Fix it in {config}."


def test_a_router_check_is_listed_with_the_other_problems(tmp_path: Path) -> None:
    config = tmp_path / "localvision.toml"
    config.write_text('batch_size = 0\n[cloud.router]\nburst = "local"\n')
    with pytest.raises(ConfigError, match="batch_size") as info:
        Settings.load(config, environ={"LOCALVISION_HOME": str(tmp_path)})
    assert "burst must name a cloud provider" in info.value.message
    assert "Value error" not in info.value.message


def test_a_router_built_in_code_is_checked_too(tmp_path: Path) -> None:
    from localvision.config import CloudSettings, RouterSettings

    with pytest.raises(ConfigError, match="put it last"):
        RouterSettings(routes={"labels": ["local", "google"]})
    with pytest.raises(ConfigError, match="Unknown privacy checks"):
        Settings(home=tmp_path, cloud={"router": {"privacy": ["telepathy"]}})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no route uses"):
        CloudSettings(router={"budgets": {"aws": 1.0}})  # type: ignore[arg-type]


def test_a_consistent_router_loads(tmp_path: Path) -> None:
    from localvision.types import Feature

    config = tmp_path / "localvision.toml"
    config.write_text(
        "[cloud.router]\n"
        'routes = { ocr = ["aws", "google", "local"], labels = ["google"] }\n'
        'budgets = { google = 50.0, "google/text" = 20.0, azure = 1.0 }\n'
        'redact = { google = ["faces", "text"] }\n'
        'shadow = "azure"\nshadow_fraction = 0.1\nburst = "google"\n'
        "patterns = ['\\bMRN-\\d{6}\\b']\n"
    )
    router = Settings.load(config, environ={"LOCALVISION_HOME": str(tmp_path)}).cloud.router
    assert router.named_providers == {"aws", "google", "azure"}
    assert router.feature_routes() == {
        Feature.TEXT: ["aws", "google", "local"],
        Feature.LABELS: ["google"],
    }

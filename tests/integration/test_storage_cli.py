"""``localvision models push`` and ``models pull URI`` as a user runs them, with the stand-in's
environment variables pointing the vendors' chains at it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from localvision.cli.app import app
from localvision.registry import Registry

from ..storage_stand_ins import StandIn
from .storage_support import CARD, colours_registry, store
from .test_storage_cache import away

__all__ = ["store"]  # the fixture, imported for pytest

runner = CliRunner()


def test_push_then_pull_from_the_command_line(
    store: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    publisher, consumer = tmp_path / "publisher", tmp_path / "consumer"
    _, entry = colours_registry(publisher, colour_model_path)
    root = store.folder("cli")

    pushed = runner.invoke(
        app,
        ["models", "push", "colours@1", root, "--json"],
        env={**store.env, "LOCALVISION_HOME": str(publisher)},
    )
    assert pushed.exit_code == 0, pushed.stderr
    result = json.loads(pushed.stdout)
    assert result["uri"] == f"{root}/colours/1" and result["bytes"] > 0
    assert result["manifest"]["sha256"] == entry.sha256 and not result["unchanged"]

    again = runner.invoke(
        app,
        ["models", "push", "colours", root],
        env={**store.env, "LOCALVISION_HOME": str(publisher)},
    )
    assert again.exit_code == 0 and "nothing written" in again.stdout

    pulled = runner.invoke(
        app,
        ["models", "pull", f"{root}/colours", "--name", "paints", "--json"],
        env={**store.env, "LOCALVISION_HOME": str(consumer)},
    )
    assert pulled.exit_code == 0, pulled.stderr
    answer = json.loads(pulled.stdout)
    assert answer["ref"] == "paints@1" and answer["sha256"] == entry.sha256
    assert answer["card"] == CARD and answer["lineage"]["source"] == f"{root}/colours/1"
    assert Registry(consumer).get("paints").sha256 == entry.sha256

    # --sha256 pins the content beyond the manifest (which lives in the same bucket)
    pinned_home = tmp_path / "pinned"
    wrong = runner.invoke(
        app,
        ["models", "pull", f"{root}/colours", "--sha256", "0" * 64],
        env={**store.env, "LOCALVISION_HOME": str(pinned_home)},
    )
    assert wrong.exit_code == 2 and "not the " + "0" * 64 in wrong.stderr
    assert not Registry(pinned_home).has("colours")
    right = runner.invoke(
        app,
        ["models", "pull", f"{root}/colours", "--sha256", entry.sha256.upper()],
        env={**store.env, "LOCALVISION_HOME": str(pinned_home)},
    )
    assert right.exit_code == 0, right.stderr
    assert Registry(pinned_home).get("colours").sha256 == entry.sha256


def test_errors_are_one_line_with_what_to_do(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    home = tmp_path / "home"
    colours_registry(home, colour_model_path)
    env = {"LOCALVISION_HOME": str(home)}

    down = runner.invoke(
        app,
        ["models", "push", "colours", f"{s3_stand_in.root}/x"],
        env={**away(s3_stand_in), **env},
    )
    assert down.exit_code == 2
    assert down.stderr.startswith("error: Cannot reach S3 at http://127.0.0.1:")
    assert "AWS_ENDPOINT_URL_S3" in down.stderr and len(down.stderr.strip().splitlines()) == 1

    missing = runner.invoke(
        app, ["models", "pull", f"{s3_stand_in.root}/nothing-here"], env={**s3_stand_in.env, **env}
    )
    assert missing.exit_code == 2 and "No pushed model" in missing.stderr

    with_labels = runner.invoke(
        app,
        ["models", "pull", f"{s3_stand_in.root}/nothing-here", "--labels", "labels.txt"],
        env={**s3_stand_in.env, **env},
    )
    assert with_labels.exit_code == 2 and "does not apply to a storage URI" in with_labels.stderr

    bad_uri = runner.invoke(app, ["models", "push", "colours", "s3://"], env=env)
    assert bad_uri.exit_code == 2 and "no valid bucket name" in bad_uri.stderr

"""The registry: versions, aliases, rollback, removal, concurrency, crash and corruption."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from localvision.errors import (
    AliasMovedError,
    InvalidParameterError,
    ModelNotFoundError,
    RegistryError,
)
from localvision.registry import Registry


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"pretend onnx bytes")
    return path


def test_versions_aliases_and_resolution(tmp_path: Path, artifact: Path) -> None:
    registry = Registry(tmp_path)
    first = registry.add(
        "pets",
        artifact,
        format_name="onnx",
        card={"labels": ["cat"]},
        metrics={"val_accuracy": 0.9},
        license="MIT",
    )
    artifact.write_bytes(b"different bytes")
    second = registry.add("pets", artifact, format_name="onnx")
    assert (first.version, second.version) == (1, 2)
    assert first.path.read_bytes() == b"pretend onnx bytes" and first.path != second.path
    assert registry.get("pets").version == 2  # no production alias: the latest
    registry.set_alias("pets", 1, "production")
    assert registry.get("pets").version == 1 and registry.get("pets@production").version == 1
    assert registry.get("pets@1").card == {"labels": ["cat"]}
    assert registry.get("pets@1").aliases == ("production",)
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        registry.get("pets@7")
    with pytest.raises(ModelNotFoundError, match="no alias 'staging'"):
        registry.get("pets@staging")
    with pytest.raises(ModelNotFoundError, match="registered: pets"):
        registry.get("dogs")
    with pytest.raises(InvalidParameterError):
        registry.set_alias("pets", 1, "3")


def test_rollback_walks_back_through_history(tmp_path: Path, artifact: Path) -> None:
    registry = Registry(tmp_path)
    for _ in range(3):
        registry.add("m", artifact, format_name="onnx")
    for version in (1, 2, 3):
        registry.set_alias("m", version, "production")
    assert registry.rollback("m").version == 2
    assert registry.rollback("m").version == 1
    with pytest.raises(InvalidParameterError, match="no earlier version"):
        registry.rollback("m")


def test_alias_moves_compare_and_set_across_registry_handles(
    tmp_path: Path, artifact: Path
) -> None:
    """Two handles (two processes, two console tabs) moving an alias from the same view: the
    second is refused with what it is now, and nothing it asked for happens."""
    mine, theirs = Registry(tmp_path), Registry(tmp_path)
    for _ in range(3):
        mine.add("m", artifact, format_name="onnx")
    mine.set_alias("m", 1, "production", expected=None)  # created from "no alias"
    theirs.set_alias("m", 2, "production", expected=1)  # theirs wins from the same view...
    with pytest.raises(AliasMovedError, match="at version 2, not version 1") as moved:
        mine.set_alias("m", 3, "production", expected=1)  # ...so mine is refused
    assert (moved.value.expected, moved.value.now, moved.value.status) == (1, 2, 409)
    assert mine.get("m@production").version == 2
    with pytest.raises(AliasMovedError, match="not no version"):
        mine.set_alias("m", 3, "production", expected=None)
    with pytest.raises(AliasMovedError):
        mine.rollback("m", "production", expected=3)
    assert mine.get("m@production").version == 2  # the refused rollback changed nothing
    assert mine.rollback("m", "production", expected=2).version == 1


def test_remove_deletes_unused_artifacts_only(tmp_path: Path, artifact: Path) -> None:
    registry = Registry(tmp_path)
    shared = registry.add("a", artifact, format_name="onnx")
    registry.add("b", artifact, format_name="onnx")  # same bytes, one stored file
    registry.remove("a")
    assert shared.path.exists()
    registry.remove("b@1")
    assert not shared.path.exists()
    assert registry.entries() == []


def test_orphans_and_stale_temporaries_are_cleaned_on_open(tmp_path: Path, artifact: Path) -> None:
    registry = Registry(tmp_path)
    kept = registry.add("a", artifact, format_name="onnx")
    orphan = registry.artifacts / ("0" * 64 + ".onnx")  # a crash after the move, before commit
    orphan.write_bytes(b"x")
    stale = registry.artifacts / ".dead.tmp"
    stale.write_bytes(b"y")
    import os

    os.utime(stale, (1, 1))
    Registry(tmp_path)
    assert kept.path.exists() and not orphan.exists() and not stale.exists()


def test_two_processes_registering_at_once_both_succeed(tmp_path: Path, artifact: Path) -> None:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from localvision.registry import Registry
        registry = Registry(Path({str(tmp_path)!r}))
        for _ in range(5):
            registry.add("shared", Path({str(artifact)!r}), format_name="onnx")
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    versions = [e.version for e in Registry(tmp_path).versions("shared")]
    assert versions == list(range(1, 11))


def test_a_killed_writer_leaves_no_half_entry(tmp_path: Path) -> None:
    big = tmp_path / "big.onnx"
    big.write_bytes(b"\0" * (200 * 1024 * 1024))
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from localvision.registry import Registry
        Registry(Path({str(tmp_path)!r})).add("big", Path({str(big)!r}), format_name="onnx")
        """
    )
    Registry(tmp_path)
    process = subprocess.Popen([sys.executable, "-c", script])
    import time

    time.sleep(0.6)
    process.kill()
    process.wait()
    registry = Registry(tmp_path)  # reopening cleans what the crash left
    versions = registry.versions("big")
    assert len(versions) <= 1  # the kill may land before or after the commit, never inside
    for entry in versions:
        assert entry.path.stat().st_size == big.stat().st_size  # never a partial artifact
    referenced = {e.path.name for e in registry.entries()}
    assert {
        p.name for p in registry.artifacts.iterdir() if not p.name.startswith(".")
    } <= referenced


def test_a_locked_database_is_a_clear_error(tmp_path: Path, artifact: Path) -> None:
    registry = Registry(tmp_path, timeout=0.2)
    holder = sqlite3.connect(registry.database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RegistryError, match="busy or unreadable"):
            registry.add("m", artifact, format_name="onnx")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_corrupt_database_is_reported_and_not_overwritten(tmp_path: Path) -> None:
    database = tmp_path / "registry" / "registry.db"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="corrupt|unreadable"):
        Registry(tmp_path)
    assert database.read_bytes() == b"this is not a database" * 100

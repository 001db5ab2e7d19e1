"""The registry's storage: SQLite for entries, a content-addressed folder for artifacts.

Layout under ``<home>/registry/``: ``registry.db`` and ``artifacts/<sha256><suffix>``.

Safety, as a user relies on it:

* **Concurrency.** Every write is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock,
  waited for up to 30 s), so two processes registering at once both succeed, with distinct
  versions.
* **Crash safety.** An artifact is copied to a temporary file first, then moved into place
  while the write lock is held, and the entry is committed right after. A crash can leave at
  most an artifact no entry points to, or a temporary file: both are removed the next time a
  registry is opened (under the write lock, so no live writer is between move and commit).
* **Migrations.** The schema version lives in ``PRAGMA user_version``; opening upgrades it
  through :class:`~localvision.sqlite_schema.Schema`, under the same write lock as the
  clean-up, and refuses a registry written by a newer localvision.
* A locked or corrupt database is reported as :class:`~localvision.errors.RegistryError` and
  nothing is overwritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AliasMovedError, InvalidParameterError, ModelNotFoundError, RegistryError
from ..files import sha256_file
from ..sqlite_schema import Schema

__all__ = ["ANY_VERSION", "ModelVersion", "Registry", "parse_ref"]

ANY_VERSION: Any = object()
"""``expected`` for :meth:`Registry.set_alias` and :meth:`Registry.rollback`: no check."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TEMP_MAX_AGE_S = 3600

# Migration steps, oldest first: add a step for a schema change, never edit a shipped one.
_VERSION_1 = """
    CREATE TABLE models (
        name TEXT PRIMARY KEY,
        created REAL NOT NULL
    );
    CREATE TABLE versions (
        model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        suffix TEXT NOT NULL,
        format TEXT NOT NULL,
        card TEXT NOT NULL,
        metrics TEXT NOT NULL,
        lineage TEXT NOT NULL,
        license TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (model, version)
    );
    CREATE TABLE aliases (
        model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (model, alias)
    );
    CREATE TABLE alias_history (
        model TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        changed REAL NOT NULL
    );
    """

_SCHEMA = Schema(
    name="registry",
    steps=(_VERSION_1,),
    error=RegistryError,
    hint="Upgrade localvision to use this registry.",
)
SCHEMA_VERSION = _SCHEMA.version


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: where its artifact is and what is known about it."""

    name: str
    version: int
    sha256: str
    format: str
    path: Path
    card: dict[str, Any]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    license: str | None
    created: float
    aliases: tuple[str, ...] = field(default=())

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "aliases": list(self.aliases),
            "format": self.format,
            "sha256": self.sha256,
            "license": self.license,
            "created": self.created,
            "metrics": self.metrics,
            "lineage": self.lineage,
            "card": self.card,
        }


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``name``, ``name@3`` or ``name@production`` -> (name, version-or-alias or None)."""
    name, _, selector = ref.partition("@")
    if not _NAME.match(name):
        raise InvalidParameterError(
            f"{name!r} is not a valid model name.",
            hint="Use letters, digits, '.', '_' and '-', starting with a letter or digit.",
        )
    return name, (selector or None)


class Registry:
    """Named models with versions and aliases, stored under ``<home>/registry``.

    Example::

        registry = Registry(settings.home)
        entry = registry.add("pets", Path("pets.onnx"), card={"labels": ["cat", "dog"]})
        registry.set_alias("pets", entry.version, "production")
        registry.get("pets").path      # the production version's artifact
    """

    def __init__(self, home: Path, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.root = home / "registry"
        self.artifacts = self.root / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.database = self.root / "registry.db"
        self._migrate_and_clean()

    # ------------------------------------------------------------------ connections

    @contextlib.contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.database, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(f"Cannot open the registry at {self.database}: {exc}.") from exc
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            if write:
                connection.execute("BEGIN IMMEDIATE")
            yield connection
            if write:
                connection.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if write and connection.in_transaction:
                connection.execute("ROLLBACK")
            raise RegistryError(
                f"The registry at {self.database} is busy or unreadable: {exc}.",
                hint="Retry; if it persists, check that no other process holds it open.",
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise RegistryError(
                f"The registry database {self.database} is corrupt: {exc}.",
                hint="Restore it from a backup; localvision does not overwrite it.",
            ) from exc
        except BaseException:
            if write and connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def _migrate_and_clean(self) -> None:
        """Upgrade the schema and remove crash leftovers, both under one write lock."""
        with self._connect(write=True) as db:
            _SCHEMA.upgrade(db)
            self._remove_orphans(db)

    def _remove_orphans(self, db: sqlite3.Connection) -> None:
        """Artifacts no entry points to (a crash after the move), and stale temporary files."""
        referenced = {
            f"{sha}{suffix}" for sha, suffix in db.execute("SELECT sha256, suffix FROM versions")
        }
        now = time.time()
        for path in self.artifacts.iterdir():
            if path.name.startswith("."):
                if now - path.stat().st_mtime > _TEMP_MAX_AGE_S:
                    path.unlink(missing_ok=True)
            elif path.name not in referenced:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ writing

    def add(
        self,
        name: str,
        source: Path,
        *,
        format_name: str,
        card: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        lineage: Mapping[str, Any] | None = None,
        license: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name`` (created if new)."""
        parse_ref(name)
        if not source.is_file():
            raise ModelNotFoundError(f"Model file {source} does not exist.")
        suffix = "".join(source.suffixes[-1:]).lower()
        temp = self.artifacts / f".{uuid.uuid4().hex}.tmp"
        try:
            shutil.copyfile(source, temp)
            with temp.open("rb") as fh:
                os.fsync(fh.fileno())
            digest = sha256_file(temp)
            with self._connect(write=True) as db:
                now = time.time()
                db.execute(
                    "INSERT OR IGNORE INTO models (name, created) VALUES (?, ?)", (name, now)
                )
                row = db.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM versions WHERE model = ?", (name,)
                ).fetchone()
                version = int(row[0]) + 1
                final = self.artifacts / f"{digest}{suffix}"
                if final.exists():
                    temp.unlink()
                else:
                    os.replace(temp, final)
                db.execute(
                    "INSERT INTO versions (model, version, sha256, suffix, format, card, metrics,"
                    " lineage, license, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        version,
                        digest,
                        suffix,
                        format_name,
                        json.dumps(dict(card or {})),
                        json.dumps(dict(metrics or {})),
                        json.dumps(dict(lineage or {})),
                        license,
                        now,
                    ),
                )
        finally:
            temp.unlink(missing_ok=True)
        return self.get(f"{name}@{version}")

    def set_alias(
        self, name: str, version: int, alias: str, *, expected: int | None = ANY_VERSION
    ) -> None:
        """Point ``alias`` of ``name`` at ``version`` (remembered for :meth:`rollback`).

        ``expected``: the version the caller saw the alias at (None: no such alias); when it
        points elsewhere now, :class:`~localvision.errors.AliasMovedError` and nothing changes.
        The check and the move are one transaction, so of two processes moving the same alias
        from the same view, exactly one wins.
        """
        if alias.isdigit() or not _NAME.match(alias):
            raise InvalidParameterError(
                f"{alias!r} is not a valid alias.", hint="Use a name such as production."
            )
        with self._connect(write=True) as db:
            self._require_version(db, name, version)
            self._check_expected(db, name, alias, expected)
            now = time.time()
            db.execute(
                "INSERT INTO aliases (model, alias, version, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, "
                "updated = excluded.updated",
                (name, alias, version, now),
            )
            db.execute(
                "INSERT INTO alias_history (model, alias, version, changed) VALUES (?, ?, ?, ?)",
                (name, alias, version, now),
            )

    def rollback(
        self, name: str, alias: str = "production", *, expected: int | None = ANY_VERSION
    ) -> ModelVersion:
        """Move ``alias`` back to the version it pointed at before its last change
        (``expected`` as for :meth:`set_alias`)."""
        with self._connect(write=True) as db:
            self._check_expected(db, name, alias, expected)
            history = db.execute(
                "SELECT version FROM alias_history WHERE model = ? AND alias = ? "
                "ORDER BY changed DESC, rowid DESC",
                (name, alias),
            ).fetchall()
            if len(history) < 2:
                raise InvalidParameterError(
                    f"{name}@{alias} has no earlier version to roll back to."
                )
            previous = int(history[1][0])
            self._require_version(db, name, previous)
            now = time.time()
            db.execute(
                "UPDATE aliases SET version = ?, updated = ? WHERE model = ? AND alias = ?",
                (previous, now, name, alias),
            )
            # The rolled-back version leaves the history, so a second rollback goes further.
            latest_rowid = db.execute(
                "SELECT rowid FROM alias_history WHERE model = ? AND alias = ? "
                "ORDER BY changed DESC, rowid DESC LIMIT 1",
                (name, alias),
            ).fetchone()[0]
            db.execute("DELETE FROM alias_history WHERE rowid = ?", (latest_rowid,))
        return self.get(f"{name}@{previous}")

    def remove(self, ref: str) -> None:
        """Remove one version (``name@3``) or a whole model (``name``) and unused artifacts."""
        name, selector = parse_ref(ref)
        with self._connect(write=True) as db:
            if selector is None:
                if db.execute("DELETE FROM models WHERE name = ?", (name,)).rowcount == 0:
                    raise self._missing(db, name)
                db.execute("DELETE FROM versions WHERE model = ?", (name,))
                db.execute("DELETE FROM aliases WHERE model = ?", (name,))
            else:
                version = self._resolve(db, name, selector)
                db.execute("DELETE FROM versions WHERE model = ? AND version = ?", (name, version))
                db.execute("DELETE FROM aliases WHERE model = ? AND version = ?", (name, version))
            self._remove_orphans(db)

    @staticmethod
    def _check_expected(
        db: sqlite3.Connection, name: str, alias: str, expected: int | None
    ) -> None:
        if expected is ANY_VERSION:
            return
        row = db.execute(
            "SELECT version FROM aliases WHERE model = ? AND alias = ?", (name, alias)
        ).fetchone()
        now = None if row is None else int(row[0])
        if now != expected:
            raise AliasMovedError(name, alias, expected=expected, now=now)

    # ------------------------------------------------------------------ reading

    def get(self, ref: str) -> ModelVersion:
        """``name`` (its production alias, else its latest version), ``name@3`` or
        ``name@alias``."""
        name, selector = parse_ref(ref)
        with self._connect() as db:
            version = self._resolve(db, name, selector)
            row = db.execute(
                "SELECT sha256, suffix, format, card, metrics, lineage, license, created "
                "FROM versions WHERE model = ? AND version = ?",
                (name, version),
            ).fetchone()
            aliases = tuple(
                a
                for (a,) in db.execute(
                    "SELECT alias FROM aliases WHERE model = ? AND version = ? ORDER BY alias",
                    (name, version),
                )
            )
        sha, suffix, fmt, card, metrics, lineage, license, created = row
        return ModelVersion(
            name=name,
            version=version,
            sha256=sha,
            format=fmt,
            path=self.artifacts / f"{sha}{suffix}",
            card=json.loads(card),
            metrics=json.loads(metrics),
            lineage=json.loads(lineage),
            license=license,
            created=created,
            aliases=aliases,
        )

    def has(self, name: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM models WHERE name = ?", (name,)).fetchone() is not None

    def entries(self) -> list[ModelVersion]:
        """Every version of every model, by name then version."""
        with self._connect() as db:
            refs = db.execute(
                "SELECT model, version FROM versions ORDER BY model, version"
            ).fetchall()
        return [self.get(f"{model}@{version}") for model, version in refs]

    def versions(self, name: str) -> list[ModelVersion]:
        return [entry for entry in self.entries() if entry.name == name]

    def _resolve(self, db: sqlite3.Connection, name: str, selector: str | None) -> int:
        if selector is not None and selector.isdigit():
            self._require_version(db, name, int(selector))
            return int(selector)
        alias = selector or "production"
        row = db.execute(
            "SELECT version FROM aliases WHERE model = ? AND alias = ?", (name, alias)
        ).fetchone()
        if row is not None:
            return int(row[0])
        if selector is not None:
            raise ModelNotFoundError(
                f"Model {name!r} has no alias {selector!r}.",
                hint=f"See its versions and aliases with: localvision models show {name}",
            )
        row = db.execute("SELECT MAX(version) FROM versions WHERE model = ?", (name,)).fetchone()
        if row is None or row[0] is None:
            raise self._missing(db, name)
        return int(row[0])

    def _require_version(self, db: sqlite3.Connection, name: str, version: int) -> None:
        found = db.execute(
            "SELECT 1 FROM versions WHERE model = ? AND version = ?", (name, version)
        ).fetchone()
        if found is None:
            if db.execute("SELECT 1 FROM models WHERE name = ?", (name,)).fetchone() is None:
                raise self._missing(db, name)
            raise ModelNotFoundError(
                f"Model {name!r} has no version {version}.",
                hint=f"See its versions with: localvision models show {name}",
            )

    def _missing(self, db: sqlite3.Connection, name: str) -> ModelNotFoundError:
        known = [n for (n,) in db.execute("SELECT name FROM models ORDER BY name")]
        return ModelNotFoundError(
            f"No registered model named {name!r} (registered: {', '.join(known) or 'none'}).",
            hint="Register one with: localvision models add NAME PATH",
        )

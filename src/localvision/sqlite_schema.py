"""One migration scheme for every SQLite database localvision keeps (registry, audit log).

A database's schema is an ordered list of steps; step ``n`` (counting from 1) brings the file
from version ``n - 1`` to ``n``, and the version reached is stored in ``PRAGMA user_version``
(a field of the file's header, so it commits and rolls back with the steps). A step is either
SQL (one or more statements) or a callable given the connection, for what SQL alone cannot say
(for example: add a column only where an older file lacks it).

Why this shape:

* **One transaction.** All pending steps and the version bumps run inside one
  ``BEGIN IMMEDIATE`` transaction: a failing step leaves the file exactly as it was, never
  half upgraded.
* **Several openers at once.** ``user_version`` is read again after the write lock is taken,
  so when two processes open an old file together the second finds the work done and skips it.
* **Newer files are refused.** A file whose version is above the code's is never touched; the
  caller's own error class (a :class:`~localvision.errors.LocalVisionError`) says what to do.

Core module: it imports only :mod:`localvision.errors` and the standard library.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import LocalVisionError

__all__ = ["Schema", "Step", "schema_version"]

Step = str | Callable[[sqlite3.Connection], None]
"""One migration step: SQL statements, or a callable that runs them on the connection."""


def schema_version(connection: sqlite3.Connection) -> int:
    """The version stored in the file's ``PRAGMA user_version`` (0 for a file never versioned)."""
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _statements(script: str) -> Iterator[str]:
    """``script`` cut into complete statements, one per ``execute``.

    ``executescript`` would commit the open transaction first, so statements are run one by
    one; ``sqlite3.complete_statement`` keeps a ``;`` inside a string literal or a trigger
    body from cutting a statement in two.
    """
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"Incomplete SQL statement in a migration step: {pending!r}.")


def _database_file(connection: sqlite3.Connection) -> str:
    """The path of the connection's main database file, for messages."""
    for _seq, name, file in connection.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) or ":memory:"
    return "the database"


@dataclass(frozen=True)
class Schema:
    """The ordered migration steps of one database, and how to refuse a file newer than them.

    ``name`` names the database in messages ("registry", "audit log"); ``error`` is the
    :class:`~localvision.errors.LocalVisionError` subclass raised for a newer file, with
    ``hint`` telling the user what to do.
    """

    name: str
    steps: tuple[Step, ...]
    error: type[LocalVisionError]
    hint: str

    @property
    def version(self) -> int:
        """The version a file has once every step is applied."""
        return len(self.steps)

    def migrate(self, connection: sqlite3.Connection) -> int:
        """Upgrade the file on ``connection`` in its own ``BEGIN IMMEDIATE`` transaction.

        A file already at :attr:`version` is only read (no write lock is taken), so opening an
        up-to-date database never waits for another process's writes. ``connection`` must not
        be inside a transaction. Returns the version the file had before.
        """
        found = schema_version(connection)
        self._refuse_newer(connection, found)
        if found == self.version:
            return found
        connection.execute("BEGIN IMMEDIATE")
        try:
            found = self.upgrade(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return found

    def upgrade(self, connection: sqlite3.Connection) -> int:
        """Apply the pending steps inside the caller's write transaction (``BEGIN IMMEDIATE``).

        For callers that do more under the same lock (the registry cleans up after crashed
        writers). The version is read here, under the lock, so a concurrent opener that got
        there first is seen. Returns the version the file had before.
        """
        found = schema_version(connection)
        self._refuse_newer(connection, found)
        for number in range(found + 1, self.version + 1):
            step = self.steps[number - 1]
            if isinstance(step, str):
                for statement in _statements(step):
                    connection.execute(statement)
            else:
                step(connection)
            connection.execute(f"PRAGMA user_version = {number}")
        return found

    def _refuse_newer(self, connection: sqlite3.Connection, found: int) -> None:
        if found > self.version:
            raise self.error(
                f"The {self.name} database {_database_file(connection)} has schema version "
                f"{found}, newer than this localvision understands ({self.version}); it was "
                "left as it is.",
                hint=self.hint,
            )

"""What may leave the machine, and the record of everything that did.

``[cloud] egress = "deny"`` (the default) makes cloud providers impossible to construct: nothing
leaves until a user allows it. Every request that does leave is written to the audit log, a
SQLite database under the data home (``<home>/audit.db``): when, to which provider and endpoint,
which features, how many images and bytes, the SHA-256 of each image sent, the outcome and how
long it took, and what was blurred first. The router's refusals are recorded too. Image bytes are
never stored. Records older than ``[cloud] audit_retention_days`` are dropped when a log opens.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError, EgressDeniedError
from ..sqlite_schema import Schema

__all__ = [
    "AuditLog",
    "EgressRecord",
    "calling_as",
    "costing",
    "redacting",
    "require_egress",
    "summarise",
    "units_sent",
]

_REDACTIONS: ContextVar[tuple[str, ...]] = ContextVar("localvision_redactions", default=())
_CALLER: ContextVar[str | None] = ContextVar("localvision_caller", default=None)
_COST: ContextVar[float | None] = ContextVar("localvision_cost", default=None)


@contextmanager
def costing(usd: float | None) -> Iterator[None]:
    """Within this block (on this thread), records carry ``usd``: the router's estimate, at
    list price with this month's volume, of what the call costs."""
    token = _COST.set(usd)
    try:
        yield
    finally:
        _COST.reset(token)


@contextmanager
def calling_as(key_id: str | None) -> Iterator[None]:
    """Within this block (on this thread), records carry the caller's key id (an API key's
    ``sha256:`` hash or an AWS access key id, never a secret)."""
    token = _CALLER.set(key_id)
    try:
        yield
    finally:
        _CALLER.reset(token)


@contextmanager
def redacting(applied: Sequence[str]) -> Iterator[None]:
    """Within this block (on this thread), records a provider writes carry ``applied``: the
    router blurs an image, then calls the provider, which never needs to know."""
    token = _REDACTIONS.set(tuple(applied))
    try:
        yield
    finally:
        _REDACTIONS.reset(token)


def require_egress(settings: Settings, provider: str) -> None:
    """Raise unless ``settings`` allow images to leave for ``provider``."""
    if settings.cloud.egress != "allow":
        raise EgressDeniedError(
            f"Sending images to {provider} is not allowed: egress is denied.",
            hint='Set egress = "allow" under [cloud] in localvision.toml to use cloud providers.',
        )


@dataclass(frozen=True)
class EgressRecord:
    time: float
    provider: str
    endpoint: str
    features: list[str]
    images: int
    bytes_sent: int
    sha256: list[str]
    outcome: str
    duration_ms: float
    redactions: list[str] = field(default_factory=list)
    """What was blurred before sending (``faces:2``), as set by :func:`redacting`."""
    key_id: str | None = None
    """Whose request it was, as set by :func:`calling_as` (None: no key, or not served)."""
    cost_usd: float | None = None
    """The estimated price of the call, as set by :func:`costing` (None: not estimated)."""

    @property
    def refused(self) -> bool:
        """A request the router kept on this machine (nothing was sent)."""
        return self.outcome.startswith("refused")


def _adopt_unversioned_log(db: sqlite3.Connection) -> None:
    """Schema version 1: the log as it stood before ``user_version`` was kept.

    Creates the tables in a new file. A file written before versioning (``user_version`` 0,
    tables already there) keeps its rows and gets the columns added since it was created:
    ``redactions``, then ``key_id`` and ``cost_usd``.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS egress (time REAL, provider TEXT, endpoint TEXT, "
        "features TEXT, images INTEGER, bytes_sent INTEGER, sha256 TEXT, outcome TEXT, "
        "duration_ms REAL, redactions TEXT DEFAULT '[]', key_id TEXT, cost_usd REAL)"
    )
    columns = {row[1] for row in db.execute("PRAGMA table_info(egress)")}
    added_later = (("redactions", "TEXT DEFAULT '[]'"), ("key_id", "TEXT"), ("cost_usd", "REAL"))
    for column, kind in added_later:
        if column not in columns:
            db.execute(f"ALTER TABLE egress ADD COLUMN {column} {kind}")
    db.execute(
        "CREATE TABLE IF NOT EXISTS shadow (time REAL, answered_by TEXT, shadow TEXT, "
        "features TEXT, agreement TEXT)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS egress_time ON egress (time)")


# Migration steps, oldest first: add a step for a schema change, never edit a shipped one.
_SCHEMA = Schema(
    name="audit log",
    steps=(_adopt_unversioned_log,),
    error=ConfigError,
    hint="Upgrade localvision, or move the file aside to start a new log.",
)


class AuditLog:
    """Append-only record of outbound (and refused) requests.

    One connection per log, shared under a lock, in WAL mode with ``synchronous=NORMAL``: a
    record is safe once :meth:`record` returns even if the process dies, and costs tens of
    microseconds rather than an fsync per request (the router writes one per refusal).
    """

    COLUMNS = (
        "time, provider, endpoint, features, images, bytes_sent, sha256, outcome, duration_ms, "
        "redactions, key_id, cost_usd"
    )

    def __init__(self, home: Path, *, retention_days: float | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / "audit.db"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            _SCHEMA.migrate(self._db)
        except BaseException:
            self._db.close()
            raise
        if retention_days is not None:
            self.prune(time.time() - retention_days * 86400)

    @classmethod
    def for_settings(cls, settings: Settings) -> AuditLog:
        """The log under ``settings.home``, records older than the retention period dropped."""
        return cls(settings.home, retention_days=settings.cloud.audit_retention_days)

    def prune(self, before: float) -> int:
        """Drop records older than ``before`` (a timestamp); returns how many went."""
        with self._lock, self._db as db:
            gone = db.execute("DELETE FROM egress WHERE time < ?", (before,)).rowcount
            gone += db.execute("DELETE FROM shadow WHERE time < ?", (before,)).rowcount
        return int(gone)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, record: EgressRecord) -> None:
        with self._lock, self._db as db:
            db.execute(
                f"INSERT INTO egress ({self.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.time,
                    record.provider,
                    record.endpoint,
                    json.dumps(record.features),
                    record.images,
                    record.bytes_sent,
                    json.dumps(record.sha256),
                    record.outcome,
                    record.duration_ms,
                    json.dumps(record.redactions or list(_REDACTIONS.get())),
                    record.key_id or _CALLER.get(),
                    record.cost_usd if record.cost_usd is not None else _COST.get(),
                ),
            )

    def entries(self, since: float = 0.0) -> list[EgressRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self.COLUMNS} FROM egress WHERE time >= ? ORDER BY time", (since,)
            ).fetchall()
        return [
            EgressRecord(
                r[0],
                r[1],
                r[2],
                json.loads(r[3]),
                r[4],
                r[5],
                json.loads(r[6]),
                r[7],
                r[8],
                json.loads(r[9] or "[]"),
                r[10],
                r[11],
            )
            for r in rows
        ]

    def record_shadow(
        self,
        when: float,
        answered_by: str,
        shadow: str,
        features: list[str],
        agreement: dict[str, float],
    ) -> None:
        """One shadow comparison: who answered, who gave the second opinion, how they agreed."""
        with self._lock, self._db as db:
            db.execute(
                "INSERT INTO shadow VALUES (?, ?, ?, ?, ?)",
                (when, answered_by, shadow, json.dumps(features), json.dumps(agreement)),
            )

    def shadow_summary(self, since: float = 0.0) -> dict[str, Any]:
        """Per (answered by -> shadow) pair: comparisons made and the mean of each measure."""
        with self._lock:
            rows = self._db.execute(
                "SELECT answered_by, shadow, agreement FROM shadow WHERE time >= ?", (since,)
            ).fetchall()
        sums: dict[str, dict[str, list[float]]] = {}
        for answered_by, shadow, agreement in rows:
            pair = sums.setdefault(f"{answered_by} -> {shadow}", {"compared": []})
            pair["compared"].append(1.0)
            for key, value in json.loads(agreement).items():
                pair.setdefault(key, []).append(float(value))
        return {
            pair: {k: (len(v) if k == "compared" else sum(v) / len(v)) for k, v in values.items()}
            for pair, values in sums.items()
        }

    @staticmethod
    def now() -> float:
        return time.time()


def units_sent(records: Sequence[EgressRecord]) -> dict[tuple[str | None, str, str], int]:
    """Images sent successfully per (caller key id, provider, feature): what a bill counts."""
    units: dict[tuple[str | None, str, str], int] = {}
    for record in records:
        if record.outcome == "ok" and record.bytes_sent > 0:
            for feature in record.features:
                key = (record.key_id, record.provider, feature)
                units[key] = units.get(key, 0) + record.images
    return units


def summarise(records: Sequence[EgressRecord]) -> dict[str, Any]:
    """Totals per provider: requests, images and bytes sent, the router's cost estimates
    summed, and requests the router refused."""
    out: dict[str, Any] = {}
    for r in records:
        entry = out.setdefault(
            r.provider,
            {"requests": 0, "images": 0, "bytes_sent": 0, "estimated_usd": 0.0, "refused": 0},
        )
        if r.refused:
            entry["refused"] += 1
            continue
        entry["requests"] += 1
        entry["images"] += r.images
        entry["bytes_sent"] += r.bytes_sent
        entry["estimated_usd"] += r.cost_usd or 0.0
    return out

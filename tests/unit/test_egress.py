"""The audit log's schema upgrade, retention and redaction notes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from localvision.cloud.audit import AuditLog, EgressRecord, redacting
from localvision.config import CloudSettings, Settings


def record(when: float, outcome: str = "ok") -> EgressRecord:
    return EgressRecord(when, "google", "x", ["labels"], 1, 100, ["abc"], outcome, 3.0)


def test_a_log_from_before_redactions_is_upgraded_in_place(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute(
            "CREATE TABLE egress (time REAL, provider TEXT, endpoint TEXT, features TEXT, "
            "images INTEGER, bytes_sent INTEGER, sha256 TEXT, outcome TEXT, duration_ms REAL)"
        )
        db.execute(
            "INSERT INTO egress VALUES (1.0, 'aws', 'e', '[\"labels\"]', 1, 5, '[]', 'ok', 2.0)"
        )
    log = AuditLog(tmp_path)
    log.record(record(2.0))
    old, new = log.entries()
    assert (old.provider, old.redactions) == ("aws", []) and new.provider == "google"


def test_retention_drops_old_records_when_the_log_opens(tmp_path: Path) -> None:
    now = time.time()
    log = AuditLog(tmp_path)
    log.record(record(now - 500 * 86400))
    log.record(record(now - 10 * 86400))
    log.record_shadow(now - 500 * 86400, "local", "google", ["labels"], {"label_top1": 1.0})
    log.close()
    settings = Settings(home=tmp_path, cloud=CloudSettings(audit_retention_days=400))
    kept = AuditLog.for_settings(settings)
    assert [round((now - r.time) / 86400) for r in kept.entries()] == [10]
    assert kept.shadow_summary() == {}
    forever = Settings(home=tmp_path, cloud=CloudSettings(audit_retention_days=None))
    assert len(AuditLog.for_settings(forever).entries()) == 1


def test_redactions_reach_records_written_inside_the_block(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    with redacting(["faces:2", "text:1"]):
        log.record(record(1.0))
    log.record(record(2.0))
    inside, outside = log.entries()
    assert inside.redactions == ["faces:2", "text:1"] and outside.redactions == []

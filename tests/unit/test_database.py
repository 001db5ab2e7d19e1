"""One SQLite migration scheme: ordered steps, ``user_version``, one transaction, newer files
refused; the audit log and the registry upgrade (or keep) the files today's code wrote."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from localvision.cloud.audit import AuditLog, EgressRecord
from localvision.errors import ConfigError, RegistryError
from localvision.registry import Registry
from localvision.sqlite_schema import Schema, Step, schema_version


def schema(*steps: Step) -> Schema:
    return Schema(name="test", steps=steps, error=RegistryError, hint="Upgrade.")


def connect(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=timeout, isolation_level=None)


def dump(path: Path) -> list[tuple[str, str, str]]:
    """Every table's and index's definition, and every row of every table."""
    with sqlite3.connect(path) as db:
        objects = db.execute(
            "SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY name"
        ).fetchall()
        rows = [
            ("row", name, repr(row))
            for kind, name, _ in objects
            if kind == "table"
            for row in db.execute(f"SELECT * FROM {name}")
        ]
    db.close()
    return [*objects, *rows]


# ---------------------------------------------------------------------- the scheme


def test_steps_run_in_order_and_each_bumps_user_version(tmp_path: Path) -> None:
    seen: list[int] = []

    def second(db: sqlite3.Connection) -> None:
        seen.append(schema_version(db))
        db.execute("INSERT INTO t VALUES ('from a callable')")

    steps = schema("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a;b')", second)
    db = connect(tmp_path / "x.db")
    assert steps.migrate(db) == 0
    assert schema_version(db) == steps.version == 2 and seen == [1]
    assert [r[0] for r in db.execute("SELECT x FROM t")] == ["a;b", "from a callable"]
    assert steps.migrate(db) == 2 and seen == [1]  # nothing runs twice


def test_a_later_step_applies_only_itself_to_an_older_file(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")
    schema("CREATE TABLE t (x TEXT)").migrate(db)
    db.execute("INSERT INTO t VALUES ('kept')")
    grown = schema("CREATE TABLE t (x TEXT)", "ALTER TABLE t ADD COLUMN y TEXT DEFAULT 'new'")
    assert grown.migrate(db) == 1
    assert db.execute("SELECT x, y FROM t").fetchall() == [("kept", "new")]


def test_sql_with_a_trigger_and_semicolons_in_literals_is_not_cut_apart(tmp_path: Path) -> None:
    script = """
        CREATE TABLE t (x TEXT);
        CREATE TABLE log (note TEXT);
        -- a comment; with a semicolon
        CREATE TRIGGER t_added AFTER INSERT ON t BEGIN
            INSERT INTO log VALUES ('added; ' || new.x);
        END;
        INSERT INTO t VALUES ('one')
    """
    db = connect(tmp_path / "x.db")
    schema(script).migrate(db)
    assert db.execute("SELECT note FROM log").fetchall() == [("added; one",)]


def test_a_failing_step_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")

    def boom(_: sqlite3.Connection) -> None:
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        schema("CREATE TABLE t (x TEXT)", boom).migrate(db)
    assert schema_version(db) == 0 and not db.in_transaction
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_a_newer_file_is_refused_with_the_callers_error_and_untouched(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")
    db.execute("PRAGMA user_version = 7")
    with pytest.raises(RegistryError, match=r"schema version 7, newer .* \(1\)") as caught:
        schema("CREATE TABLE t (x TEXT)").migrate(db)
    assert caught.value.hint == "Upgrade."
    assert str(tmp_path / "x.db") in caught.value.message
    assert schema_version(db) == 7
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_an_up_to_date_file_opens_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    steps = schema("CREATE TABLE t (x TEXT)")
    steps.migrate(connect(path))
    writer = connect(path)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert steps.migrate(connect(path, timeout=0.1)) == 1  # read only, no write lock
    finally:
        writer.execute("ROLLBACK")


def test_two_openers_at_once_migrate_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    runs: list[float] = []
    start = threading.Barrier(2)

    def slow(db: sqlite3.Connection) -> None:
        runs.append(time.monotonic())
        time.sleep(0.2)  # the other opener reads version 0, then waits for the lock
        db.execute("CREATE TABLE t (x TEXT)")  # would fail if run twice

    steps = schema(slow)
    errors: list[BaseException] = []

    def open_it() -> None:
        db = connect(path)
        start.wait()
        try:
            steps.migrate(db)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(runs) == 1
    assert schema_version(connect(path)) == 1


# ---------------------------------------------------------------------- the audit log

_EGRESS_COLUMNS = {
    "oldest": "time REAL, provider TEXT, endpoint TEXT, features TEXT, images INTEGER, "
    "bytes_sent INTEGER, sha256 TEXT, outcome TEXT, duration_ms REAL",
    "with redactions": "time REAL, provider TEXT, endpoint TEXT, features TEXT, "
    "images INTEGER, bytes_sent INTEGER, sha256 TEXT, outcome TEXT, duration_ms REAL, "
    "redactions TEXT DEFAULT '[]'",
    "latest unversioned": "time REAL, provider TEXT, endpoint TEXT, features TEXT, "
    "images INTEGER, bytes_sent INTEGER, sha256 TEXT, outcome TEXT, duration_ms REAL, "
    "redactions TEXT DEFAULT '[]', key_id TEXT, cost_usd REAL",
}


@pytest.mark.parametrize("generation", list(_EGRESS_COLUMNS))
def test_an_audit_log_from_before_versioning_upgrades_keeping_its_rows(
    tmp_path: Path, generation: str
) -> None:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute(f"CREATE TABLE egress ({_EGRESS_COLUMNS[generation]})")
        db.execute(
            "INSERT INTO egress (time, provider, endpoint, features, images, bytes_sent, sha256,"
            " outcome, duration_ms) VALUES (1.0, 'aws', 'e', '[\"labels\"]', 1, 5, '[\"h\"]',"
            " 'ok', 2.0)"
        )
        if generation == "latest unversioned":
            db.execute(
                "CREATE TABLE shadow (time REAL, answered_by TEXT, shadow TEXT, features TEXT, "
                "agreement TEXT)"
            )
            db.execute("INSERT INTO shadow VALUES (1.0, 'local', 'aws', '[]', '{\"x\": 0.5}')")
            db.execute("CREATE INDEX egress_time ON egress (time)")
    db.close()
    log = AuditLog(tmp_path)
    log.record(EgressRecord(2.0, "google", "g", ["text"], 2, 9, ["k"], "ok", 1.0, key_id="id"))
    old, new = log.entries()
    assert (old.provider, old.features, old.sha256) == ("aws", ["labels"], ["h"])
    assert old.redactions == []
    assert (old.key_id, old.cost_usd) == (None, None)
    assert (new.provider, new.key_id) == ("google", "id")
    if generation == "latest unversioned":
        assert log.shadow_summary() == {"local -> aws": {"compared": 1, "x": 0.5}}
    log.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        assert schema_version(db) == 1
        columns = [row[1] for row in db.execute("PRAGMA table_info(egress)")]
        indexes = db.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    db.close()
    assert columns[-3:] == ["redactions", "key_id", "cost_usd"] and indexes == [("egress_time",)]


def test_a_new_audit_log_is_versioned_and_reopens_unchanged(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.record(EgressRecord(1.0, "aws", "e", ["labels"], 1, 5, [], "ok", 2.0))
    log.close()
    before = dump(tmp_path / "audit.db")
    AuditLog(tmp_path).close()
    assert dump(tmp_path / "audit.db") == before
    with sqlite3.connect(tmp_path / "audit.db") as db:
        assert schema_version(db) == 1
    db.close()


def test_a_newer_audit_log_is_a_config_error_and_left_alone(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("CREATE TABLE egress (time REAL, future TEXT)")
        db.execute("PRAGMA user_version = 99")
    db.close()
    before = dump(tmp_path / "audit.db")
    with pytest.raises(ConfigError, match="audit log .* newer") as caught:
        AuditLog(tmp_path)
    assert caught.value.hint and "Upgrade localvision" in caught.value.hint
    assert dump(tmp_path / "audit.db") == before


# ---------------------------------------------------------------------- the registry

# The registry's schema as version 1 shipped it, written here by hand so a change to the
# code's migration steps cannot silently change what an existing file is expected to hold.
_REGISTRY_V1 = [
    "CREATE TABLE models (name TEXT PRIMARY KEY, created REAL NOT NULL)",
    "CREATE TABLE versions (model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE, "
    "version INTEGER NOT NULL, sha256 TEXT NOT NULL, suffix TEXT NOT NULL, format TEXT NOT NULL,"
    " card TEXT NOT NULL, metrics TEXT NOT NULL, lineage TEXT NOT NULL, license TEXT, "
    "created REAL NOT NULL, PRIMARY KEY (model, version))",
    "CREATE TABLE aliases (model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE, "
    "alias TEXT NOT NULL, version INTEGER NOT NULL, updated REAL NOT NULL, "
    "PRIMARY KEY (model, alias))",
    "CREATE TABLE alias_history (model TEXT NOT NULL, alias TEXT NOT NULL, "
    "version INTEGER NOT NULL, changed REAL NOT NULL)",
]


def test_a_registry_at_todays_version_opens_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    (root / "artifacts").mkdir(parents=True)
    (root / "artifacts" / "abc.onnx").write_bytes(b"model")
    database = root / "registry.db"
    with sqlite3.connect(database) as db:
        for statement in _REGISTRY_V1:
            db.execute(statement)
        db.execute("INSERT INTO models VALUES ('pets', 1.0)")
        db.execute(
            "INSERT INTO versions VALUES ('pets', 1, 'abc', '.onnx', 'onnx', '{}', '{}', '{}', "
            "'MIT', 1.0)"
        )
        db.execute("INSERT INTO aliases VALUES ('pets', 'production', 1, 1.0)")
        db.execute("PRAGMA user_version = 1")
    db.close()
    before = dump(database)
    entry = Registry(tmp_path).get("pets@production")
    assert (entry.version, entry.license, entry.path.read_bytes()) == (1, "MIT", b"model")
    assert dump(database) == before
    with sqlite3.connect(database) as db:
        assert schema_version(db) == 1
    db.close()


def test_a_newer_registry_is_a_registry_error_and_left_alone(tmp_path: Path) -> None:
    Registry(tmp_path)
    database = tmp_path / "registry" / "registry.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA user_version = 2")
    db.close()
    before = dump(database)
    with pytest.raises(RegistryError, match=r"registry database .* schema version 2") as caught:
        Registry(tmp_path)
    assert caught.value.hint and "Upgrade localvision" in caught.value.hint
    assert dump(database) == before

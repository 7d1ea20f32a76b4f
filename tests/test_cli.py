"""The `zabota` command as `make run` uses it, in a fresh data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

ZABOTA = [sys.executable, "-m", "zabota.cli"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZABOTA, *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def fresh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZABOTA_")}
    return {**env, "ZABOTA_DATA_DIR": str(tmp_path / "var"), **extra}


def test_first_start_creates_admin_from_environment(tmp_path):
    env = fresh_env(tmp_path, ZABOTA_ADMIN_EMAIL="Boss@Example.com",
                    ZABOTA_ADMIN_PASSWORD="s3cret-pass")
    assert run(["migrate"], env).returncode == 0
    assert run(["migrate"], env).returncode == 0  # idempotent
    first = run(["createadmin", "--if-none"], env)
    assert first.returncode == 0, first.stderr
    assert "boss@example.com" in first.stdout.lower() and "s3cret-pass" in first.stdout
    second = run(["createadmin", "--if-none"], env)
    assert second.returncode == 0 and "s3cret-pass" not in second.stdout
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'zabota.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT email, role FROM users")).all() == [
            ("boss@example.com", "admin")]
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    assert (tmp_path / "var" / "secret_key").exists() is False  # created by the server


def test_generated_password_is_printed_and_kept_privately(tmp_path):
    env = fresh_env(tmp_path)
    run(["migrate"], env)
    out = run(["createadmin"], env)
    assert out.returncode == 0
    saved = tmp_path / "var" / "admin-password.txt"
    assert saved.read_text().split()[1] in out.stdout
    assert oct(saved.stat().st_mode & 0o777) == "0o600"


def test_bad_input_is_refused_clearly(tmp_path):
    env = fresh_env(tmp_path)
    run(["migrate"], env)
    short = run(["createadmin", "--email", "a@example.com", "--password", "short"], env)
    assert short.returncode == 2 and "8 characters" in short.stderr
    bad = run(["demo", "--tickets", "0"], env)
    assert bad.returncode == 2 and "--tickets" in bad.stderr
    run(["createadmin", "--email", "a@example.com", "--password", "long-enough"], env)
    twice = run(["createadmin", "--email", "a@example.com", "--password", "long-enough"], env)
    assert twice.returncode == 1 and "already exists" in twice.stderr


def test_an_interrupted_demo_load_is_reported_on_the_next_start(tmp_path):
    env = fresh_env(tmp_path)
    run(["migrate"], env)
    loaded = run(["demo", "--tickets", "6", "--customers", "4", "--days", "3"], env)
    assert loaded.returncode == 0, loaded.stderr
    again = run(["demo", "--if-empty"], env)
    assert "exist already" in again.stdout and not again.stderr.strip()
    # As if the first start had been stopped half-way through the load:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'zabota.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE site_settings SET value = :v WHERE key = 'demo_state'"),
                     {"v": '{"state": "loading", "tickets": 10000}'})
    engine.dispose()
    stopped = run(["demo", "--if-empty"], env)
    assert stopped.returncode == 0
    assert "of 10000 tickets" in stopped.stderr and "incomplete" in stopped.stderr

"""The state contract on a real PostgreSQL (127.0.0.1:5432, trust auth).

One fresh database per test session (random name, dropped afterwards) and one fresh schema
per test (through `search_path`). Without a server the tests skip, or fail when $CI is set.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from sync.errors import StateError
from sync.state import StateStore, migrate
from tests.integration.test_state_sqlite import StateContract

pytestmark = pytest.mark.postgres

SERVER = "postgresql+psycopg://{user}@127.0.0.1:5432/{database}"
USERS = ("postgres", "root")


def _admin_engine() -> tuple[sa.Engine, str]:
    """An autocommit engine on the `test` database, with the first user that connects."""
    problems = []
    for user in USERS:
        engine = sa.create_engine(
            SERVER.format(user=user, database="test"),
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 5},
        )
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return engine, user
        except sa.exc.OperationalError as error:
            problems.append(f"{user}: {str(error.orig).strip().splitlines()[0]}")
            engine.dispose()
    message = "PostgreSQL at 127.0.0.1:5432 (database test) is unreachable: " + "; ".join(problems)
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[tuple[str, str]]:
    """(user, database): a database created for this test session and dropped after it."""
    admin, user = _admin_engine()
    name = f"tts_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield user, name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class TestPostgresState(StateContract):
    @pytest.fixture
    def state_url(self, pg_database: tuple[str, str]) -> Iterator[str]:
        user, database = pg_database
        base = SERVER.format(user=user, database=database)
        schema = f"t_{secrets.token_hex(6)}"
        engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()

    def test_without_auto_migrate_an_old_schema_asks_for_db_upgrade(self, state_url: str) -> None:
        with pytest.raises(StateError, match="run `timetrack-sync db upgrade`"):
            StateStore(state_url, auto_migrate=False)
        assert migrate.current_revision(state_url) is None  # untouched
        assert migrate.upgrade(state_url) == (None, migrate.head_revision())
        with StateStore(state_url, auto_migrate=False) as store:
            assert store.recent_runs() == []

    def test_error_message_never_carries_the_password(self, pg_database: tuple[str, str]) -> None:
        url = "postgresql+psycopg://nobody:Sekr3tPw@127.0.0.1:1/none?connect_timeout=2"
        with pytest.raises(StateError) as info:
            StateStore(url)
        assert "Sekr3tPw" not in str(info.value)
        assert "127.0.0.1:1" in str(info.value)

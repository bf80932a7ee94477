"""Alembic environment and versions of the state database schema (packaged with the code)."""

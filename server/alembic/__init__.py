"""Alembic environment for Podium's schema migrations."""

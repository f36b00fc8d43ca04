"""Alembic migrations for acd's schema, shipped inside the package so ``acd db upgrade`` works
from an installed wheel without an alembic.ini."""

"""The one MetaData every table of acd's schema is declared on, and how its constraints are named.

Alembic compares the migrations with this MetaData, so every table module of ``acd.store.schema``
must be imported before it is read: the package's ``__init__`` imports them all, and importing any
one of them imports the package first.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

__all__ = ["NAMING", "Base", "table_of"]

# Constraint names as the migrations spell them (Alembic compares names too).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """The model's Core table, typed as such (mypy sees ``__table__`` as a generic FromClause)."""
    return cast(Table, model.__table__)

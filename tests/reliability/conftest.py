"""Fixtures of the fault tests (defined in ``services``): PostgreSQL checks, a private Redis."""

from .services import postgresql, postgresql_database_url, private_redis

__all__ = ["postgresql", "postgresql_database_url", "private_redis"]

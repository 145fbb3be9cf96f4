"""The pool's tests: a real SQLite file per test, and one real PostgreSQL server per session
(tests skip where it is not installed)."""

from tests.fixtures import postgres

__all__ = ["postgres"]

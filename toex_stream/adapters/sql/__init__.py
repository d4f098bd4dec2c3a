"""SQL (SQLAlchemy 2; SQLite by default, PostgreSQL in production): the tables, their migrations and the stores."""

"""PostgreSQL: engine, table definitions and Alembic migrations."""

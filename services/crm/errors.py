"""Errors a user can act on: Kafka or PostgreSQL cannot be started, reached or used as configured."""


class InfrastructureError(RuntimeError):
    """Kafka or PostgreSQL could not be set up, started or reached; the message says what to do."""

"""Errors a user can act on, raised when local infrastructure cannot start."""


class InfrastructureError(RuntimeError):
    """Kafka or PostgreSQL could not be set up or started; the message says what to do."""

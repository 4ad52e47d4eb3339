"""The event contract with partner systems (CONTRACT.md), as strict pydantic models."""

"""The event contract with partner systems (docs/contract.md), as strict pydantic models."""

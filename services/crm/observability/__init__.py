"""What operators watch: Prometheus metrics, health and readiness probes, request ids (docs/operations.md)."""

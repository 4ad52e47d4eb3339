"""HTTP layer of the query service."""

"""The query service: analysts' and partners' read access to the read models (HTTP, CSV, dashboard)."""

"""The projector: consumes `crm.events` and keeps the read models in PostgreSQL."""

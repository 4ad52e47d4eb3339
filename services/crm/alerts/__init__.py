"""The alerts service: follows pilots on `crm.events`, fires stalled-pilot alerts on `crm.alerts`."""

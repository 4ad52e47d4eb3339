"""SmartGrowth CRM: an event-driven CRM pipeline for export programmes."""

__version__ = "0.1.0"

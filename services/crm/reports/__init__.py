"""Funder reports: a period's report computed from the read models, frozen, restated, exported."""

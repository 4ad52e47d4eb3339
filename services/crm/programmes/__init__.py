"""Programmes as data: definition files, the measure catalogue, indicators and funder reports."""

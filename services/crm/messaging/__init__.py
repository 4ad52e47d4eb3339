"""Kafka adapters shared by the services: topic set-up and publishing."""

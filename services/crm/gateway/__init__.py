"""The ingestion gateway: partner systems POST events over authenticated HTTP; Kafka stores them."""

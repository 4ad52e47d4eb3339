"""Local infrastructure the project starts and stops itself: Kafka (KRaft) and PostgreSQL."""

"""Topic roles of the contract and the headers of dead letters."""

TOPIC_DEFAULTS = {"events": "crm.events", "alerts": "crm.alerts", "dlq": "crm.events.dlq"}

DLQ_HEADERS = {
    "dlq.reason": "why the message was refused (every located problem)",
    "dlq.source.topic": "topic the message was read from",
    "dlq.source.partition": "partition it was read from",
    "dlq.source.offset": "offset it was read from",
    "dlq.consumer": "the consumer that parked it",
    "dlq.parked_at": "when it was parked (RFC 3339, UTC)",
}

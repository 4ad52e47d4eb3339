"""What makes two events "the same event": the sender's (partner_id, event_id), and its content.

Event ids are chosen by partner systems, so they are unique per partner only. A re-send of the
same event (same id, same content) is a harmless duplicate; the same id with other content is a
conflict: refused at the gateway, parked by the consumers.
"""

import hashlib

from crm.contract.decoding import encode_event
from crm.contract.events import DomainEvent

EventKey = tuple[str, str]
"""(partner_id, event_id as text)."""


def event_key(event: DomainEvent) -> EventKey:
    return event.partner_id, str(event.event_id)


def content_hash(event: DomainEvent) -> bytes:
    """16 bytes identifying the event's content: a hash of its canonical encoding, so a re-send
    that differs only in formatting (white space, key order, a time zone offset) hashes the same."""
    return hashlib.blake2b(encode_event(event), digest_size=16).digest()

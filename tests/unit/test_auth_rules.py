"""Role rules and the token format (no database needed)."""

from crm.auth.principals import Principal, can_read, can_write
from crm.auth.tokens import hash_token, new_token, token_id_of

PARTNER = Principal(token_id="a" * 16, role="partner", partner_id="tehnopol")
ANALYST = Principal(token_id="b" * 16, role="analyst", partner_id=None)


def test_a_partner_reads_and_writes_only_itself() -> None:
    assert can_read(PARTNER, "tehnopol") and can_write(PARTNER, "tehnopol")
    assert not can_read(PARTNER, "sisp") and not can_write(PARTNER, "sisp")


def test_an_analyst_reads_everything_and_writes_nothing() -> None:
    assert can_read(ANALYST, "tehnopol") and can_read(ANALYST, "sisp")
    assert not can_write(ANALYST, "tehnopol")


def test_tokens_carry_their_id_and_are_stored_as_hashes() -> None:
    token_id, token = new_token()
    assert token_id_of(token) == token_id
    assert len(hash_token(token)) == 64 and token not in hash_token(token)
    assert new_token()[1] != token


def test_malformed_tokens_have_no_id() -> None:
    for token in ("", "nope", "crm_", "crm_short_x", "crm_" + "a" * 16, "crm_" + "a" * 16 + "_", "x" * 500):
        assert token_id_of(token) is None

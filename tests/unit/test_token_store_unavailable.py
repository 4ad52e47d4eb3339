"""A token check with the database away is 'unavailable' (the gateway answers 503), never 'invalid'
nor an unhandled error (a 500 the partner client does not retry). Found by the fault suite."""

import pytest

from crm.auth.tokens import TokenStore, TokenStoreUnavailable
from crm.db.engine import create_engine
from crm.local.processes import free_port


async def test_a_refused_database_connection_is_reported_as_unavailable() -> None:
    nobody_listens = f"postgresql+asyncpg://crm@127.0.0.1:{free_port()}/crm"
    store = TokenStore(create_engine(nobody_listens, pool_size=1))
    try:
        with pytest.raises(TokenStoreUnavailable):
            await store.verify("crm_0123456789abcdef_" + "s" * 32)
    finally:
        await store.close()

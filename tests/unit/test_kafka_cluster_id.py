"""KRaft cluster ids the storage tool accepts as an argument value."""

import base64

from crm.local.kafka_broker import new_cluster_id


def test_cluster_ids_are_16_byte_uuids_that_never_look_like_an_option() -> None:
    ids = [new_cluster_id() for _ in range(5000)]  # a leading '-' has a 1 in 64 chance per draw
    assert not any(cluster_id.startswith("-") for cluster_id in ids)
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
    assert len(set(ids)) == len(ids)

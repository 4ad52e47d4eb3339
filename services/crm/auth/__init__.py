"""Who is calling and what they may do: bearer tokens (stored as hashes) and the role rules.

Shared by the ingestion gateway and the query API.
"""

"""`crm import`: a partner's history from CSV or JSON Lines, validated whole, then sent in batches."""

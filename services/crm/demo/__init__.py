"""`crm demo`: the pipeline end to end on the embedded defaults."""

"""One module per resource; handlers stay thin (parse, call a query, render)."""

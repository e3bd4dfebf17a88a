"""seedbed."""

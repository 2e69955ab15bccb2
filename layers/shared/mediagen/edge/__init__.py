"""Tier 4, the HTTP edge: the resolver and the one mapping of errors to statuses, user tokens, webhook
signatures."""

"""Tier 0, used by every tier: settings (the only environment reader), the domain's errors, what a retry
cures, logs and metrics."""

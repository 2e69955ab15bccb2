"""Tier 2, data access: the PynamoDB models and every DynamoDB condition and update (jobs, in-flight sets,
notifications)."""

"""`make migrate`: the old system's PostgreSQL database brought into this service's tables.

Not a Lambda function and not part of the shared layer: an operator's command that runs once per
cut-over, with dependencies (psycopg, tqdm) that no function needs. See docs/migration.md.
"""

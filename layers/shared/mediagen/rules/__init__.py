"""Tier 3, the domain's rules: generate and cancel, a completion delivery, dispatch, the sweeper, who sees a
job and its views. Plain functions over data access, without HTTP."""

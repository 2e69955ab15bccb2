"""Tier 1: the contract's bodies and statuses (pydantic), and the rules of its fields."""

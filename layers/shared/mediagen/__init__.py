"""Shared domain code of the mediagen functions (shipped as the Lambda layer)."""

"""Tier 2, the other systems we call: the generation backend's API, the dispatch queue, signed S3 URLs."""

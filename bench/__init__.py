"""Benchmarks of issue 6: webhook latency, cold start, DynamoDB capacity (`python -m bench.run`)."""

"""What runs the functions outside Lambda, written once, for the tests, the local service (`local/emulator/`),
the benchmarks (`bench/`) and the example events (`deploy/events.py`):

- `deploy.base.lambda_events`: the events AWS sends (API Gateway HTTP API payload 2.0, SQS, EventBridge
  schedule) and the Lambda context object;
- `local.harness.sources`: Lambda's event sources (the SQS event source mapping: receive, invoke,
  delete what succeeded; a `rate()` schedule), driving any `invoke(event)` callable;
- `local.harness.environment`: the process environment of a function that talks to AWS stand-ins
  only (fake credentials, region, table names; nothing of a real account);
- `local.harness.parties`: the parties around the service as tests and benchmarks play them: a Clerk-like
  token issuer, and the generation backend (its payloads, signed webhooks, and a stand-in that takes
  dispatches).
"""

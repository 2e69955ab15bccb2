"""The shared base of the deploy tooling (`deploy/`) and the local stack (`local/`): what both know of the
stack, written once. Neither side imports the other; both import this, and this imports neither
(tests/unit/test_tooling_imports.py checks all three on the syntax tree).

- `cfn_template`: template.yaml read (CloudFormation short tags kept), its resources, the tables and
  queues created from their one definition;
- `cfn_functions`: the template's functions (Globals applied), the HTTP API's routes, the AppSync
  Events channel namespaces;
- `intrinsics`: CloudFormation's intrinsic functions, resolved against given values (the local stack's,
  or the permission check's fake account);
- `arns`: the resources' names in that fake account (the permission check and the call recorder);
- `lambda_events`: the events AWS hands a function (API Gateway, SQS, DynamoDB Streams, EventBridge,
  AppSync Events' onSubscribe) and the Lambda context; the fake account and region;
- `devkeys`: the development credentials kept in `.local/` (the token key and its JWKS, the webhook
  secrets, the erasure hash key), which sign the local service's tokens, `make smoke`'s and `events/`.
"""

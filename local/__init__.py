"""The local stack: what runs the product on one machine without AWS. `emulator` (the service `make run`
starts: API Gateway, Lambda sandboxes, the embedded AWS, the playground, the stand-in generation
backend), `harness` (events and environments written once for the emulator, the tests and the
benchmarks), `services` (AWS's DynamoDB Local and the throwaway PostgreSQL the tests run)."""

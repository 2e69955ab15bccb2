"""Real services the tests and `make run` start on this machine: AWS's DynamoDB Local and a throwaway
PostgreSQL cluster."""

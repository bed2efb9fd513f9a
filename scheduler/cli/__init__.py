"""The `suanchou` command-line tool: a pure gRPC client of the scheduler's public services."""

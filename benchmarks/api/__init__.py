"""The API track ("Keep up", issue 11): a real `suanchou server` process under real gRPC load.
See benchmarks/api/__main__.py for what it measures and how."""

"""gRPC API: thin servicers, proto<->domain conversion, status mapping, interceptors."""

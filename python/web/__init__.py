"""The HTTP face of the service: FastAPI routes, pure ASGI middleware, SSE."""

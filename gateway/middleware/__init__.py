"""Plain ASGI middleware of the gateway, one per file."""

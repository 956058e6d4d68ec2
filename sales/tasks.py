"""Sales tasks: thin, idempotent; the work is in the services. Each part of sales adds its own below."""

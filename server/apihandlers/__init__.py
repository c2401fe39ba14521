"""JSON API handlers, one module per resource, each ending in its ``default_handlers``."""

"""Administration services, one module per concept; handlers call exactly one of them per request."""

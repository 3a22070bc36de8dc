"""The JSON REST API at /api/."""

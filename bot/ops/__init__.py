"""Operating the bot: Prometheus metrics, and the /health, /ready and /metrics endpoints."""

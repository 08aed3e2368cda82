"""What the API, the workers and the CLI share: settings and the Redis job store."""

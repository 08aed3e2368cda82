"""The thin Flask API: uploads become jobs in Redis, clients poll them; also serves the page."""

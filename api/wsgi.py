"""The gunicorn target: `gunicorn api.wsgi:app` (settings from the MNISTQ_* environment)."""

from api.app import create_app

app = create_app()

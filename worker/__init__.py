"""Celery workers: each process loads the model once and predicts chunks of a job."""

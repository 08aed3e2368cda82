"""The seed's architecture, kept as the baseline users would otherwise run.

A synchronous Flask app under gunicorn (2 sync workers) whose handler decodes each upload,
deskews it on its own with scipy and calls `SVC.predict` on the seed's model (784 deskewed
pixels, poly-4). Self-contained on purpose: it imports nothing from `core/`, so speeding up
our code can never speed up the baseline it is compared to.
"""

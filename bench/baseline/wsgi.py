"""gunicorn target of the baseline: `gunicorn bench.baseline.wsgi:app` with BASELINE_MODEL set.

The baseline is the seed's app, not ours: it reads its one setting here, as the seed did.
"""

import os
from pathlib import Path

from bench.baseline.app import create_app

app = create_app(Path(os.environ["BASELINE_MODEL"]))

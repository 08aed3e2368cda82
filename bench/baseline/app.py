"""The seed's web app: one synchronous handler that decodes, deskews and predicts.

`POST /predict` with multipart field `files` (one or many images) answers
`{"predictions": [{"filename", "prediction"}...]}`; an unreadable file gets `"error"`.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from flask import Flask, jsonify, request

from bench.baseline.seed import decode, features


def create_app(model_path: Path) -> Flask:
    app = Flask(__name__)
    svc = joblib.load(model_path)

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    @app.post("/predict")
    def predict():
        uploads = request.files.getlist("files")
        if not uploads:
            return jsonify(error="no files"), 400
        rows, names, errors = [], [], {}
        for i, upload in enumerate(uploads):
            try:
                rows.append(decode(upload.read()))
                names.append(i)
            except Exception as exc:  # the seed answered per-file errors like this
                errors[i] = str(exc)
        labels = svc.predict(features(np.stack(rows))) if rows else []
        by_index = dict(zip(names, (int(label) for label in labels), strict=True))
        return jsonify(predictions=[
            {"filename": u.filename, "prediction": by_index.get(i), "error": errors.get(i)}
            for i, u in enumerate(uploads)
        ])

    return app

"""The web page at `/`: one HTML document, its scripts and styles, all served from the package.

The page talks only to the JSON API on the same origin, so it can send a strict
Content-Security-Policy: nothing inline, nothing from elsewhere. Static assets are served under
a fingerprinted path (`/assets/<version>/<file>`, the version being a hash of every asset), so
browsers may keep them for a year and still see a new release at once; the HTML itself is
always revalidated.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, send_from_directory

from .app import services

bp = Blueprint("page", __name__, template_folder="templates")

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_YEAR = 365 * 24 * 3600


@functools.cache
def asset_names() -> frozenset[str]:
    """The static files' names (listed once per process): a requested name is looked up
    here, never handed to the filesystem (a name longer than the filesystem allows made
    `is_file` raise)."""
    return frozenset(path.name for path in STATIC_DIR.iterdir() if path.is_file())


@functools.cache
def assets_version() -> str:
    """A short hash of every static file (read once per process): it changes whenever any
    of them does, so browsers may cache the assets for a year."""
    digest = hashlib.sha256()
    for name in sorted(asset_names()):
        digest.update(name.encode())
        digest.update((STATIC_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


def upload_limits() -> dict[str, int]:
    """The limits the API enforces, so the page can say "too large" before uploading."""
    settings = services().settings
    return {"max_files": settings.max_files, "max_upload_bytes": settings.max_upload_bytes}


@bp.get("/")
def index() -> Response:
    """The page: upload, progress, results, drawing."""
    html = render_template(
        "index.html", assets=f"/assets/{assets_version()}", limits=upload_limits(),
        review_below=services().settings.review_below,
    )
    response = Response(html, mimetype="text/html")
    response.headers.update(_SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/assets/<version>/<name>")
def asset(version: str, name: str) -> Response:
    """A script or stylesheet; immutable under the current version, revalidated otherwise."""
    if name not in asset_names():
        abort(404)
    current = version == assets_version()
    response = send_from_directory(STATIC_DIR, name, max_age=_YEAR if current else 0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if current:
        response.headers["Cache-Control"] = f"public, max-age={_YEAR}, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response

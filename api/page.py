"""The web page at `/` (placeholder until the page lands)."""

from flask import Blueprint

bp = Blueprint("page", __name__)

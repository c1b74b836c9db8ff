"""The baseline for the ingest benchmark: a bare Flask app on the same server (waitress)
whose endpoint only returns 204. Run: python bench/bare_app.py PORT"""
from __future__ import annotations

import sys

import waitress
from flask import Flask

app = Flask("bare")


@app.post("/webhooks/discourse")
def hook():
    return "", 204


@app.get("/healthz")
def healthz():
    return "", 200


if __name__ == "__main__":
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=8, ident="bare",
                   _quiet=True)

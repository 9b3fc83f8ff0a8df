"""The prediction API (FastAPI): `create_app()` in `app.api.app`; run it with `python -m app serve`.

Importing this package is cheap on purpose: the encoder and model are loaded by the app's
lifespan, so `uvicorn app.api.app:app` starts listening at once and `/readyz` says when the
artifacts are in.
"""

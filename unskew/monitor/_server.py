"""``unskew monitor serve``: FastAPI over :class:`Monitor` (parse, call one library function, answer).

- ``POST /v1/models/{name}/predictions?id=COL&timestamp=COL``
- ``POST /v1/models/{name}/labels?id=COL&target=COL``

Bodies are JSON (a list of row objects, or ``{"rows": [...]}``) or Parquet
(``Content-Type: application/vnd.apache.parquet`` or
``application/x-parquet``). Every request needs ``Authorization: Bearer
TOKEN``; the token comes from ``$UNSKEW_MONITOR_TOKEN`` (the server makes and
prints one when it is unset). Bodies over the size limit get 413; a bad batch
gets 422 naming the column and value, and nothing of it is written; an
acknowledged batch (200) is committed.
"""


import hmac
import io
import json
import os
import secrets
from typing import Any

from ..exceptions import UnskewInputError, UnskewNotFoundError

#: Largest request body accepted (bytes).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")


def _frame_from_body(body: bytes, content_type: str):
    import pandas as pd

    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in PARQUET_TYPES:
        try:
            return pd.read_parquet(io.BytesIO(body))
        except Exception as exc:
            raise UnskewInputError(f"body: not a readable Parquet file ({type(exc).__name__}: {exc}).") from None
    if ctype not in ("application/json", ""):
        raise UnskewInputError(f"Content-Type {ctype!r} is not supported; send application/json or application/vnd.apache.parquet.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnskewInputError(f"body: not valid JSON ({exc}).") from None
    if isinstance(data, dict) and "rows" in data:
        data = data["rows"]
    if isinstance(data, dict):  # column -> list of values
        data = pd.DataFrame(data)
        return data
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UnskewInputError('body: send a JSON list of row objects, {"rows": [...]}, or an object of columns.')
    return pd.DataFrame.from_records(data)


def create_app(store: Any = None, *, token: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
    """The FastAPI application over a :class:`Monitor` on ``store``.

    Examples
    --------
    >>> from unskew.monitor._server import create_app
    >>> app = create_app("sqlite:///unskew.db", token="secret")  # doctest: +SKIP
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from ._monitor import Monitor

    mon = Monitor(store)
    token = token or os.environ.get("UNSKEW_MONITOR_TOKEN")
    if not token:
        raise UnskewInputError("The monitoring service needs a bearer token: set UNSKEW_MONITOR_TOKEN.")
    app = FastAPI(title="unskew monitor", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.monitor = mon

    def _auth(request: Request):
        h = request.headers.get("authorization", "")
        scheme, _, value = h.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            return JSONResponse({"detail": "missing or bad bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return None

    async def _body(request: Request):
        n = request.headers.get("content-length")
        if n is not None and n.isdigit() and int(n) > max_bytes:
            return None, JSONResponse({"detail": f"body of {int(n)} bytes is over the limit of {max_bytes}"}, status_code=413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                return None, JSONResponse({"detail": f"body is over the limit of {max_bytes} bytes"}, status_code=413)
            chunks.append(chunk)
        return b"".join(chunks), None

    async def _ingest(request: Request, log, **kwargs):
        """Authenticate, read the body, and log it with ``log`` (a Monitor method) in a worker thread."""
        from starlette.concurrency import run_in_threadpool

        denied = _auth(request)
        if denied:
            return denied
        body, err = await _body(request)
        if err:
            return err
        try:
            frame = _frame_from_body(body, request.headers.get("content-type", ""))
            return await run_in_threadpool(log, frame, **kwargs)
        except UnskewInputError as exc:
            code = 404 if isinstance(exc, UnskewNotFoundError) else 422
            return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.post("/v1/models/{name}/predictions")
    async def predictions(name: str, request: Request, id: str | None = None, timestamp: str | None = None):
        return await _ingest(request, lambda frame, **kw: mon.log(name, frame, **kw), id=id, timestamp=timestamp)

    @app.post("/v1/models/{name}/labels")
    async def labels(name: str, request: Request, id: str = "id", target: str = "label"):
        return await _ingest(request, lambda frame, **kw: mon.log_labels(name, frame, **kw), id=id, target=target)

    @app.get("/v1/health")
    async def health():
        return {"status": "ok"}

    return app


def serve(store: Any = None, *, host: str = "127.0.0.1", port: int = 8080, max_bytes: int = DEFAULT_MAX_BYTES,
          echo=print) -> None:
    """Run the service with uvicorn (blocking)."""
    import uvicorn

    token = os.environ.get("UNSKEW_MONITOR_TOKEN")
    if not token:
        token = secrets.token_urlsafe(32)
        os.environ["UNSKEW_MONITOR_TOKEN"] = token
        echo(f"No UNSKEW_MONITOR_TOKEN set; this run's bearer token is: {token}")
    app = create_app(store, token=token, max_bytes=max_bytes)
    echo(f"unskew monitor serving {app.state.monitor.store!r} on http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)

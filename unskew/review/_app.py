"""The review web UI and JSON API: thin FastAPI routes over the library functions of
:mod:`unskew.review`. Every route declares its role (``public``, ``viewer``, ``reviewer`` or
``admin``) through :func:`_route`; the security tests enumerate ``app.routes`` and check each.
"""

from __future__ import annotations

import io
import mimetypes
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..exceptions import MissingExtraError, UnskewInputError

HERE = Path(__file__).parent
SESSION_COOKIE = "unskew_session"
LOGIN_CSRF_COOKIE = "unskew_login_csrf"
MAX_BODY = 1_000_000
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
PUBLIC = "public"


class _NeedLogin(Exception):
    def __init__(self, api: bool, path: str):
        self.api, self.path = api, path


class _Forbidden(Exception):
    def __init__(self, message: str, api: bool):
        self.message, self.api = message, api


def create_app(store: Any = None, *, models_dir: str | Path | None = None, secure_cookies: bool = False):
    """The FastAPI application over a store (a :class:`unskew.store.Store` or a URL).

    Examples
    --------
    >>> from unskew.store import open_store
    >>> app = create_app(open_store("sqlite:///:memory:"))  # doctest: +SKIP
    """
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
        from jinja2 import Environment, FileSystemLoader
        from starlette.concurrency import run_in_threadpool
    except ImportError as exc:  # pragma: no cover
        raise MissingExtraError(exc.name or "fastapi", "review", "the review server") from exc

    from ..store import Store, open_store
    from . import _auth as A
    from . import _challenges as C
    from . import _queues as Q
    from ._trail import entries, verify

    st: Store = store if isinstance(store, Store) else open_store(store)
    models_dir = Path(models_dir).resolve() if models_dir else None
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    app = FastAPI(title="unskew review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = st
    ROUTES: dict[tuple[str, str], str] = {}
    app.state.route_roles = ROUTES

    # ------------------------------------------------------------------ plumbing
    @app.middleware("http")
    async def _headers(request: Request, call_next):
        cl = request.headers.get("content-length")
        if cl and cl.isdigit() and int(cl) > MAX_BODY:
            return JSONResponse({"detail": f"request body larger than {MAX_BODY:,} bytes"}, status_code=413)
        resp = await call_next(request)
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.exception_handler(_NeedLogin)
    async def _need_login(request: Request, exc: _NeedLogin):
        if exc.api or request.method != "GET":
            return JSONResponse({"detail": "authentication required: a valid bearer token or session"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"} if exc.api else None)
        return RedirectResponse(f"/login?next={quote(exc.path, safe='/')}", status_code=303)

    @app.exception_handler(_Forbidden)
    async def _forbidden(request: Request, exc: _Forbidden):
        if exc.api:
            return JSONResponse({"detail": exc.message}, status_code=403)
        return HTMLResponse(page("error.html", request, None, status=403, message=exc.message), status_code=403)

    @app.exception_handler(UnskewInputError)
    async def _bad_input(request: Request, exc: UnskewInputError):
        status = 409 if isinstance(exc, Q.AlreadyDecided) else 429 if isinstance(exc, A.RateLimited) else 422
        if request.url.path.startswith("/api/"):
            msg = str(exc)
            field = msg.split(":", 1)[0] if ":" in msg and " " not in msg.split(":", 1)[0] else None
            return JSONResponse({"detail": msg, "field": field}, status_code=status)
        user = getattr(request.state, "user", None)
        return HTMLResponse(page("error.html", request, user, status=status, message=str(exc)), status_code=status)

    @app.exception_handler(LookupError)
    async def _not_found(request: Request, exc: LookupError):
        msg = f"not found: {exc.args[0] if exc.args else ''}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": msg}, status_code=404)
        return HTMLResponse(page("error.html", request, getattr(request.state, "user", None), status=404,
                                 message=msg), status_code=404)

    def page(name: str, request, user, **ctx) -> str:
        return env.get_template(name).render(user=user, csrf=getattr(request.state, "csrf", ""),
                                             path=request.url.path, **ctx)

    def _route(method: str, path: str, role: str, *, api: bool = False):
        """Register a route with its role; the wrapper authenticates, checks the role and CSRF."""
        def deco(fn):
            import functools
            import inspect

            ROUTES[(method, path)] = role
            sig = inspect.signature(fn)

            @functools.wraps(fn)
            async def endpoint(request: Request, **kwargs):
                request.state.api = api
                if role != PUBLIC:
                    user, csrf = await run_in_threadpool(_authenticate, request, api)
                    if user is None:
                        raise _NeedLogin(api, str(request.url.path))
                    if not A.has_role(user.role, role):
                        raise _Forbidden(f"This needs the {role} role; {user.name} is a {user.role}.", api)
                    request.state.user, request.state.csrf = user, csrf
                    if method == "POST" and not api:
                        form = await request.form()
                        if not A.csrf_ok(csrf, form.get("csrf_token")):
                            raise _Forbidden("The form's CSRF token is missing or wrong; reload the page.", api)
                else:
                    request.state.user = None
                if inspect.iscoroutinefunction(fn):
                    return await fn(request, **kwargs)
                return await run_in_threadpool(fn, request, **kwargs)

            params = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
            params += [p for n, p in sig.parameters.items() if n != "request"]
            endpoint.__signature__ = sig.replace(parameters=params)
            endpoint.__unskew_role__ = role
            app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
            return fn
        return deco

    def _authenticate(request, api: bool):
        if api:
            auth = request.headers.get("authorization", "")
            if not auth.lower().startswith("bearer "):
                return None, None
            return A.token_user(st, auth[7:].strip()), None
        return A.session_user(st, request.cookies.get(SESSION_COOKIE))

    def html(body: str, status: int = 200):
        return HTMLResponse(body, status_code=status)

    def redirect(url: str):
        return RedirectResponse(url, status_code=303)

    async def form_of(request) -> dict:
        f = await request.form()
        return {k: v for k, v in f.items() if isinstance(v, str)}

    # ------------------------------------------------------------------ static files
    static_root = (HERE / "static").resolve()

    @_route("GET", "/static/{name}", PUBLIC)
    def static(request: Request, name: str):
        p = (static_root / name).resolve()
        if p.parent != static_root or not p.is_file():
            raise LookupError(name)
        return Response(p.read_bytes(), media_type=mimetypes.guess_type(p.name)[0] or "application/octet-stream",
                        headers={"Cache-Control": "max-age=3600"})

    # ------------------------------------------------------------------ login
    @_route("GET", "/login", PUBLIC)
    def login_page(request: Request, next: str = "/"):
        token = secrets.token_urlsafe(24)
        r = html(page("login.html", request, None, login_csrf=token, next=_safe_next(next), error=None))
        r.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies, path="/login")
        return r

    @_route("POST", "/login", PUBLIC)
    async def login_post(request: Request):
        f = await form_of(request)
        nxt = _safe_next(f.get("next", "/"))
        if not A.csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), f.get("csrf_token")):
            return html(page("error.html", request, None, status=403,
                             message="The login form's CSRF token is missing or wrong; reload the page."), 403)
        client = request.client.host if request.client else "?"
        try:
            cookie, _, _ = await run_in_threadpool(A.login, st, f.get("name", ""), f.get("password", ""), client)
        except A.RateLimited as exc:
            return html(page("login.html", request, None, login_csrf=f.get("csrf_token"), next=nxt, error=str(exc)), 429)
        except UnskewInputError as exc:
            return html(page("login.html", request, None, login_csrf=f.get("csrf_token"), next=nxt, error=str(exc)), 401)
        r = redirect(nxt)
        r.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=secure_cookies, path="/",
                     max_age=A.SESSION_HOURS * 3600)
        r.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return r

    @_route("POST", "/logout", "viewer")
    def logout(request: Request):
        A.logout(st, request.cookies.get(SESSION_COOKIE))
        r = redirect("/login")
        r.delete_cookie(SESSION_COOKIE, path="/")
        return r

    # ------------------------------------------------------------------ queues
    @_route("GET", "/", "viewer")
    def home(request: Request, q: str = ""):
        queues = Q.list_queues(st)
        if q:
            queues = [x for x in queues if q.lower() in x["name"].lower()]
        return html(page("queues.html", request, request.state.user, queues=queues, q=q,
                         disputed=len(Q.disputed_items(st))))

    @_route("GET", "/queues/{queue_id}", "viewer")
    def queue_page(request: Request, queue_id: int):
        queue = Q.get_queue(st, queue_id)
        stats = [x for x in Q.list_queues(st) if x["id"] == queue.id][0]
        return html(page("queue.html", request, request.state.user, queue=queue, stats=stats,
                         agreement=Q.queue_agreement(st, queue.id)))

    @_route("GET", "/queues/{queue_id}/next", "reviewer")
    def queue_next(request: Request, queue_id: int):
        queue = Q.get_queue(st, queue_id)
        it = Q.next_item(st, queue.id, request.state.user.id)
        if it is None:
            return html(page("empty.html", request, request.state.user, queue=queue))
        return redirect(f"/items/{it.id}")

    @_route("GET", "/items/{item_id}", "reviewer")
    def item_page(request: Request, item_id: int):
        it = Q.get_item(st, item_id)
        queue = Q.get_queue(st, it.queue_id)
        mine = [d for d in Q.item_decisions(st, it.id) if d["reviewer"] == request.state.user.name]
        return html(page("review.html", request, request.state.user, item=Q.item_dict(it, queue), queue=queue,
                         mine=mine, image=bool(queue.info.get("image_column"))))

    @_route("POST", "/items/{item_id}/decide", "reviewer")
    async def item_decide(request: Request, item_id: int):
        f = await form_of(request)
        it = await run_in_threadpool(Q.get_item, st, item_id)
        await run_in_threadpool(Q.decide, st, it.id, request.state.user, f.get("action", ""),
                                label=f.get("label") or None, comment=f.get("comment") or None)
        return redirect(f"/queues/{it.queue_id}/next")

    @_route("GET", "/items/{item_id}/image", "reviewer")
    def item_image(request: Request, item_id: int):
        it = Q.get_item(st, item_id)
        queue = Q.get_queue(st, it.queue_id)
        col, root = queue.info.get("image_column"), queue.info.get("image_root")
        if not col or not root or not it.row.get(col):
            raise LookupError(f"image of item {item_id}")
        base = Path(root).resolve()
        p = (base / str(it.row[col])).resolve()
        if base not in p.parents or not p.is_file():
            raise LookupError(f"image of item {item_id}")
        mt = mimetypes.guess_type(p.name)[0] or ""
        if not mt.startswith("image/") or mt == "image/svg+xml":
            raise LookupError(f"image of item {item_id}")
        return Response(p.read_bytes(), media_type=mt)

    # ------------------------------------------------------------------ adjudication
    @_route("GET", "/adjudication", "admin")
    def adjudication_list(request: Request):
        items = [Q.item_dict(i) for i in Q.disputed_items(st)]
        for d in items:
            d["decisions"] = Q.item_decisions(st, d["id"])
        return html(page("adjudication.html", request, request.state.user, items=items))

    @_route("GET", "/adjudication/{item_id}", "admin")
    def adjudication_item(request: Request, item_id: int):
        it = Q.get_item(st, item_id)
        queue = Q.get_queue(st, it.queue_id)
        return html(page("adjudicate.html", request, request.state.user, item=Q.item_dict(it, queue), queue=queue,
                         decisions=Q.item_decisions(st, it.id)))

    @_route("POST", "/adjudication/{item_id}", "admin")
    async def adjudication_post(request: Request, item_id: int):
        f = await form_of(request)
        Q.adjudicate(st, item_id, request.state.user, f.get("action", ""), label=f.get("label") or None,
                     comment=f.get("comment") or None)
        return redirect("/adjudication")

    # ------------------------------------------------------------------ challenge sets
    @_route("GET", "/challenges", "viewer")
    def challenges(request: Request, item: int | None = None):
        return html(page("challenges.html", request, request.state.user, sets=C.list_sets(st), queues=Q.list_queues(st),
                         item=item))

    @_route("POST", "/challenges", "reviewer")
    async def challenge_create(request: Request):
        f = await form_of(request)
        try:
            queue = Q.get_queue(st, int(f.get("queue_id", "0")))
        except (ValueError, LookupError):
            raise UnskewInputError("queue_id: choose the queue whose table the cases follow.") from None
        cs = C.create_set(st, f.get("name", ""), queue.columns, queue.label_column or "", actor=request.state.user.name,
                          queue_id=queue.id, exclude=[queue.key_column] if queue.key_column else None)
        return redirect(f"/challenges/{cs.id}")

    @_route("GET", "/challenges/{set_id}", "viewer")
    def challenge_page(request: Request, set_id: int, item: int | None = None, version: int | None = None):
        cs = C.get_set(st, set_id)
        prefill, expected = {}, ""
        if item is not None:
            it = Q.get_item(st, item)
            prefill = {c: ("" if it.row.get(c) is None else it.row.get(c)) for c in cs.columns}
            expected = it.label or ""
        models = sorted(p.name for p in models_dir.iterdir() if p.suffix in (".skops", ".onnx")) if models_dir else []
        return html(page("challenge.html", request, request.state.user, cs=cs, cases=C.cases(st, cs.id, version),
                         version=cs.version if version is None else version, prefill=prefill, expected=expected,
                         models=models, result=None))

    @_route("POST", "/challenges/{set_id}/cases", "reviewer")
    async def challenge_add(request: Request, set_id: int):
        f = await form_of(request)
        cs = C.get_set(st, set_id)
        feats = {c: f.get(f"col_{i}", "") for i, c in enumerate(cs.columns)}
        C.add_case(st, cs.id, feats, f.get("expected", ""), tags=f.get("tags", ""), rationale=f.get("rationale", ""),
                   actor=request.state.user.name)
        return redirect(f"/challenges/{cs.id}")

    @_route("POST", "/challenges/{set_id}/cases/{case_id}/remove", "reviewer")
    def challenge_remove(request: Request, set_id: int, case_id: int):
        C.remove_case(st, set_id, case_id, actor=request.state.user.name)
        return redirect(f"/challenges/{set_id}")

    @_route("GET", "/challenges/{set_id}/export", "viewer")
    def challenge_export(request: Request, set_id: int, version: int | None = None):
        cs = C.get_set(st, set_id)
        frame = C.export_set(st, cs.id, version)
        v = cs.version if version is None else version
        name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in cs.name)
        return Response(frame.to_csv(index=False), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}-v{v}.csv"'})

    @_route("POST", "/challenges/{set_id}/run", "reviewer")
    async def challenge_run(request: Request, set_id: int):
        from ..metrics._models import load_model

        f = await form_of(request)
        cs = C.get_set(st, set_id)
        if models_dir is None:
            raise UnskewInputError("model: the server was started without --models; no model to run.")
        name = f.get("model", "")
        p = (models_dir / name).resolve()
        if p.parent != models_dir or not p.is_file():
            raise UnskewInputError(f"model: {name!r} is not a model in the server's --models folder.")
        res = C.run_set(st, cs.id, load_model(p))
        failing = res.cases[~res.cases["passed"]].to_dict("records")
        models = sorted(x.name for x in models_dir.iterdir() if x.suffix in (".skops", ".onnx"))
        return html(page("challenge.html", request, request.state.user, cs=cs, cases=C.cases(st, cs.id),
                         version=cs.version, prefill={}, expected="", models=models,
                         result={"model": name, "n": len(res.cases), "failed": res.n_failed, "failing": failing,
                                 "by_tag": res.by_tag.to_dict("records")}))

    # ------------------------------------------------------------------ admin
    @_route("GET", "/users", "admin")
    def users(request: Request):
        return html(page("users.html", request, request.state.user, users=A.list_users(st), roles=A.ROLES))

    @_route("POST", "/users", "admin")
    async def users_add(request: Request):
        f = await form_of(request)
        A.add_user(st, f.get("name", ""), f.get("role", ""), password=f.get("password") or None,
                   actor=request.state.user.name)
        return redirect("/users")

    @_route("POST", "/users/role", "admin")
    async def users_role(request: Request):
        f = await form_of(request)
        A.set_role(st, f.get("name", ""), f.get("role", ""), actor=request.state.user.name)
        return redirect("/users")

    @_route("GET", "/trail", "admin")
    def trail(request: Request):
        return html(page("trail.html", request, request.state.user, entries=entries(st, 200), check=verify(st)))

    @_route("GET", "/export.csv", "admin")
    def export_csv(request: Request, queue: int | None = None):
        frame, _ = Q.export_decisions(st, None, queue=queue)
        from ._trail import append

        with st.session() as s:
            append(s, request.state.user.name, "export", {"out": "download", "queue": queue, "decisions": len(frame)})
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="decisions.csv"'})

    # ------------------------------------------------------------------ JSON API (fixed: scripts depend on it)
    @_route("GET", "/api/v1/queues", "viewer", api=True)
    def api_queues(request: Request):
        return [{"id": q["id"], "name": q["name"], "items": q["items"], "open": q["open"]} for q in Q.list_queues(st)]

    @_route("GET", "/api/v1/queues/{queue_id}/next", "reviewer", api=True)
    def api_next(request: Request, queue_id: int):
        queue = Q.get_queue(st, queue_id)
        it = Q.next_item(st, queue.id, request.state.user.id)
        if it is None:
            raise LookupError(f"queue {queue_id} has no open item for {request.state.user.name}")
        return Q.item_dict(it, queue)

    @_route("POST", "/api/v1/items/{item_id}/decisions", "reviewer", api=True)
    async def api_decide(request: Request, item_id: int):
        import json

        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UnskewInputError("body: not valid JSON; send {\"action\": ..., \"label\": ..., \"comment\": ...}.") from None
        if not isinstance(body, dict):
            raise UnskewInputError("body: send a JSON object {\"action\": ..., \"label\": ..., \"comment\": ...}.")
        unknown = set(body) - {"action", "label", "comment"}
        if unknown:
            raise UnskewInputError(f"{sorted(unknown)[0]}: unknown field; use action, label and comment.")
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise UnskewInputError("comment: must be text.")
        if body.get("action") == "skip":
            raise UnskewInputError("action: 'skip' is not a decision; use keep, relabel, remove or escalate.")
        d = await run_in_threadpool(Q.decide, st, item_id, request.state.user, body.get("action"),
                                    label=body.get("label"), comment=comment)
        return JSONResponse(d, status_code=201)

    @_route("GET", "/api/v1/decisions", "viewer", api=True)
    def api_decisions(request: Request, queue: int | None = None):
        return Q.all_decisions(st, queue_id=queue)

    return app


def _safe_next(nxt: str) -> str:
    """Only local paths: no scheme, no host, no protocol-relative URL."""
    if not isinstance(nxt, str) or not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        return "/"
    return nxt


def serve(store: Any = None, *, host: str = "127.0.0.1", port: int = 8080, models_dir=None) -> None:
    """Run the review server with uvicorn (binds to loopback unless told otherwise)."""
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover
        raise MissingExtraError("uvicorn", "review", "the review server") from exc
    app = create_app(store, models_dir=models_dir)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)

"""The review server without a browser: every route's role, CSRF, escaping, the JSON API."""

import re

import pytest
from review_helpers import XSS_COL, XSS_VAL

fastapi = pytest.importorskip("fastapi")
from fastapi.routing import APIRoute  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from unskew.review._app import create_app  # noqa: E402
from unskew.review._trail import verify  # noqa: E402


@pytest.fixture
def app_env(review_store):
    store, tokens, qid = review_store
    app = create_app(store)
    return app, store, tokens, qid


def client(app):
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def login(app, name):
    c = client(app)
    r = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"name": name, "password": f"pw-{name}-123456", "csrf_token": token, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def csrf_of(c, path="/"):
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text).group(1)


def _concrete(path):
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_declares_a_role_and_needs_a_session(app_env):
    app, *_ = app_env
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 25
    c = client(app)
    for r in routes:
        role = getattr(r.endpoint, "__unskew_role__", None)
        assert role in ("public", "viewer", "reviewer", "admin"), f"{r.path} declares no role"
        if role == "public":
            continue
        for method in r.methods:
            resp = c.request(method, _concrete(r.path))
            if r.path.startswith("/api/"):
                assert resp.status_code == 401, (method, r.path, resp.status_code)
            elif method == "GET":
                assert resp.status_code == 303 and resp.headers["location"].startswith("/login"), (method, r.path)
            else:
                assert resp.status_code == 401, (method, r.path, resp.status_code)
    # public routes are exactly the login page and the static files
    public = sorted((m, r.path) for r in routes if r.endpoint.__unskew_role__ == "public" for m in r.methods)
    assert public == [("GET", "/login"), ("GET", "/static/{name}"), ("POST", "/login")]


def test_roles_are_enforced_on_every_route(app_env):
    app, *_ = app_env
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    rank = {"viewer": 0, "reviewer": 1, "admin": 2}
    sessions = {name: login(app, name) for name in ("view", "rev")}
    for r in routes:
        role = r.endpoint.__unskew_role__
        if role == "public":
            continue
        for who, wrole in (("view", "viewer"), ("rev", "reviewer")):
            if rank[wrole] >= rank[role]:
                continue
            c = sessions[who]
            for method in r.methods:
                if r.path.startswith("/api/"):
                    continue
                data = {"csrf_token": csrf_of(c)} if method == "POST" else None
                resp = c.request(method, _concrete(r.path), data=data)
                assert resp.status_code == 403, (who, method, r.path, resp.status_code)


def test_api_tokens_and_roles(app_env):
    app, store, tokens, qid = app_env
    c = client(app)
    assert c.get("/api/v1/queues").status_code == 401
    assert c.get("/api/v1/queues", headers={"Authorization": "Bearer nope"}).status_code == 401
    h = {t: {"Authorization": f"Bearer {tokens[t]}"} for t in tokens}
    qs = c.get("/api/v1/queues", headers=h["view"]).json()
    assert qs == [{"id": qid, "name": "q", "items": 6, "open": 6}]
    assert c.get(f"/api/v1/queues/{qid}/next", headers=h["view"]).status_code == 403
    item = c.get(f"/api/v1/queues/{qid}/next", headers=h["rev"]).json()
    assert item["id"] and item["row"]["x"] == 0
    r = c.post(f"/api/v1/items/{item['id']}/decisions", headers=h["view"], json={"action": "keep"})
    assert r.status_code == 403
    r = c.post(f"/api/v1/items/{item['id']}/decisions", headers=h["rev"],
               json={"action": "relabel", "label": "1", "comment": "clear case"})
    assert r.status_code == 201 and r.json()["action"] == "relabel" and r.json()["label"] == "1"
    # decided once: a second decision by the same reviewer is refused, nothing overwritten
    r = c.post(f"/api/v1/items/{item['id']}/decisions", headers=h["rev"], json={"action": "keep"})
    assert r.status_code == 409
    assert c.get(f"/api/v1/queues/{qid}/next", headers=h["rev"]).json()["id"] != item["id"]
    for body, field in (({"action": "delete"}, "action"), ({"action": "relabel"}, "label"),
                        ({"action": "relabel", "label": "7"}, "label"), ({"action": "keep", "x": 1}, "x"),
                        ({"action": "keep", "comment": 5}, "comment")):
        r = c.post(f"/api/v1/items/{item['id'] + 1}/decisions", headers=h["rev"], json=body)
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.json())
    assert c.post("/api/v1/items/9999/decisions", headers=h["rev"], json={"action": "keep"}).status_code == 404
    r = c.post(f"/api/v1/items/{item['id'] + 1}/decisions", headers=h["rev"], content=b"[1")
    assert r.status_code == 422
    from unskew.review._auth import revoke_tokens

    assert revoke_tokens(store, "rev2") == 1
    assert c.get("/api/v1/queues", headers=h["rev2"]).status_code == 401  # revoked
    decs = c.get("/api/v1/decisions", headers=h["view"]).json()
    assert len(decs) == 1 and decs[0]["reviewer"] == "rev" and decs[0]["comment"] == "clear case"
    assert verify(store).ok


def test_csrf_required_on_every_form(app_env):
    app, *_ = app_env
    c = login(app, "admin")
    routes = [r for r in app.routes if isinstance(r, APIRoute) and "POST" in r.methods
              and not r.path.startswith("/api/") and r.endpoint.__unskew_role__ != "public"]
    for r in routes:
        for data in ({}, {"csrf_token": "wrong"}):
            resp = c.post(_concrete(r.path), data=data)
            assert resp.status_code == 403, (r.path, resp.status_code)
    # the login form too (double-submit cookie)
    c2 = client(app)
    c2.get("/login")
    assert c2.post("/login", data={"name": "admin", "password": "pw-admin-123456"}).status_code == 403


def test_cookie_flags_and_headers(app_env):
    app, *_ = app_env
    c = client(app)
    r = c.get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.text.replace('<script src="/static/review.js" defer></script>', "")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"name": "rev", "password": "pw-rev-123456", "csrf_token": token})
    cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("unskew_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_login_rate_limited(app_env):
    app, *_ = app_env
    c = client(app)
    codes = []
    for _ in range(7):
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        codes.append(c.post("/login", data={"name": "rev", "password": "wrong-password", "csrf_token": token}).status_code)
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"name": "rev", "password": "pw-rev-123456", "csrf_token": token})
    assert r.status_code == 429  # even the right password, until the window passes


def test_payloads_are_escaped(app_env):
    app, store, tokens, qid = app_env
    c = login(app, "admin")
    pages = ["/", f"/queues/{qid}", "/items/1", "/trail"]
    for p in pages:
        text = c.get(p).text
        assert XSS_VAL not in text and XSS_COL not in text, p
        assert "onerror=alert" not in text.replace("onerror=alert(1)&gt;", "")
    text = c.get("/items/1").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "&lt;script&gt;" in text


def test_sql_metacharacters_harmless(app_env):
    app, store, tokens, qid = app_env
    c = login(app, "view")
    for q in ("' OR 1=1 --", "q'; DROP TABLE review_items; --", '"', "%", "_"):
        r = c.get("/", params={"q": q})
        assert r.status_code == 200
    assert "No queues" in c.get("/", params={"q": "' OR 1=1 --"}).text
    h = {"Authorization": f"Bearer {tokens['view']}"}
    assert c.get("/api/v1/decisions", params={"queue": "1 OR 1=1"}, headers=h).status_code == 422
    assert c.get("/api/v1/queues", headers=h).json()[0]["items"] == 6  # table intact
    r = login(app, "admin").post("/login", data={"name": "x' OR '1'='1", "password": "' OR '1'='1"})
    assert r.status_code in (401, 403)


def test_reviewer_cannot_manage_users_and_viewer_cannot_decide(app_env):
    app, store, tokens, qid = app_env
    rev = login(app, "rev")
    r = rev.post("/users", data={"name": "eve", "role": "admin", "password": "eve-eve-eve", "csrf_token": csrf_of(rev)})
    assert r.status_code == 403
    view = login(app, "view")
    r = view.post("/items/1/decide", data={"action": "keep", "csrf_token": csrf_of(view)})
    assert r.status_code == 403
    adm = login(app, "admin")
    r = adm.post("/users", data={"name": "eve", "role": "viewer", "password": "eve-eve-eve", "csrf_token": csrf_of(adm)})
    assert r.status_code == 303 and "eve" in adm.get("/users").text


def test_form_review_flow_and_challenge_set(app_env, tmp_path):
    app, store, tokens, qid = app_env
    rev = login(app, "rev")
    r = rev.get(f"/queues/{qid}/next")
    assert r.status_code == 303
    item_url = r.headers["location"]
    r = rev.post(item_url + "/decide", data={"action": "remove", "comment": "dup", "csrf_token": csrf_of(rev, item_url)})
    assert r.status_code == 303
    # challenge set from a row, versioned, exported in the `unskew evaluate --challenge` format
    r = rev.post("/challenges", data={"name": "edge cases", "queue_id": str(qid), "csrf_token": csrf_of(rev)})
    assert r.status_code == 303
    set_url = r.headers["location"]
    page = rev.get(set_url + "?item=2").text
    assert 'value="job1"' in page  # prefilled from item 2
    data = {"col_0": "3", "col_1": "job3", "col_2": "x", "expected": "1", "tags": "edge;night",
            "rationale": "why", "csrf_token": csrf_of(rev, set_url)}
    assert rev.post(set_url + "/cases", data=data).status_code == 303
    data["col_0"], data["expected"] = "4", "0"
    assert rev.post(set_url + "/cases", data=data).status_code == 303
    csv = rev.get(set_url + "/export").text
    v1 = rev.get(set_url + "/export?version=1").text
    assert csv.splitlines()[0].startswith("id,x,job,") and csv.count("\n") == 3 and v1.count("\n") == 2
    from unskew.metrics._challenge import load_challenge_set

    (tmp_path / "c.csv").write_text(csv)
    assert len(load_challenge_set(tmp_path / "c.csv")) == 2
    assert verify(store).ok


def test_run_challenge_set_against_a_model(review_store, tmp_path):
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from unskew.review import _challenges as C

    store, tokens, qid = review_store
    X = pd.DataFrame({"x": np.arange(-50, 50, dtype=float)})
    model = LogisticRegression().fit(X, (X["x"] > 0).astype(int))
    models = tmp_path / "models"
    models.mkdir()
    sio.dump(model, models / "m.skops")
    cs = C.create_set(store, "threshold", ["x"], "y", actor="t")
    for x, exp, tag in ((10, "1", "easy"), (-10, "0", "easy"), (-20, "1", "hard")):
        C.add_case(store, cs.id, {"x": str(x)}, exp, tags=tag, actor="t")
    app = create_app(store, models_dir=models)
    c = login(app, "rev")
    page = c.get(f"/challenges/{cs.id}").text
    assert "<option>m.skops</option>" in page
    r = c.post(f"/challenges/{cs.id}/run", data={"model": "m.skops", "csrf_token": csrf_of(c, f"/challenges/{cs.id}")})
    assert r.status_code == 200
    assert "1 of 3 cases fail" in r.text and "hard" in r.text
    r = c.post(f"/challenges/{cs.id}/run", data={"model": "../../etc/passwd", "csrf_token": csrf_of(c)})
    assert r.status_code == 422 and "not a model" in r.text


def test_image_of_an_item_is_served_from_the_data_folder_only(review_store, tmp_path):
    from unskew.store._review import ReviewItem, ReviewQueue

    store, tokens, qid = review_store
    root = tmp_path / "data"
    (root / "imgs").mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    (root / "imgs" / "a.png").write_bytes(png)
    (tmp_path / "secret.png").write_bytes(b"secret")
    with store.session() as s:
        q = s.get(ReviewQueue, qid)
        q.info = {"image_column": "path", "image_root": str(root)}
        for item_id, path in ((1, "imgs/a.png"), (2, "../secret.png"), (3, "imgs/missing.png")):
            it = s.get(ReviewItem, item_id)
            it.row = {**it.row, "path": path}
    c = login(create_app(store), "rev")
    r = c.get("/items/1/image")
    assert r.status_code == 200 and r.content == png and r.headers["content-type"] == "image/png"
    assert '<img class="item-image" src="/items/1/image"' in c.get("/items/1").text
    assert c.get("/items/2/image").status_code == 404  # outside the data folder
    assert c.get("/items/3/image").status_code == 404


def test_slice_item_page_and_decision(review_store):
    from unskew.review import _queues as Q
    from unskew.store._review import ReviewItem

    store, tokens, qid = review_store
    with store.session() as s:
        it = ReviewItem(queue_id=qid, kind="slice", row_key="slice:1", status="open", priority=99.0, position=0,
                        row={"slice": f"job = {XSS_VAL}", "size": 2, "error": 0.5, "error_rest": 0.1},
                        reason={"flags": [{"check": "slices", "score_name": "error_ratio", "score": 5.0,
                                           "severity": 1.0, "group": "job = a", "group_rate": 0.5,
                                           "overall_rate": 0.1}],
                                "rows": [0, 1], "row_keys": ["0", "1"],
                                "sample": [{"x": 0, "job": XSS_VAL}, {"x": 1, "job": "a"}]})
        s.add(it)
        s.flush()
        item_id = it.id
    c = login(create_app(store), "rev")
    assert c.get(f"/queues/{qid}/next").headers["location"] == f"/items/{item_id}"  # highest priority first
    page = c.get(f"/items/{item_id}").text
    assert "The slice (2 rows; sample)" in page and "applies to every row" in page and XSS_VAL not in page
    r = c.post(f"/items/{item_id}/decide", data={"action": "remove", "csrf_token": csrf_of(c, f"/items/{item_id}")})
    assert r.status_code == 303
    frame, _ = Q.export_decisions(store)
    assert sorted(frame["row_key"]) == ["0", "1"] and set(frame["action"]) == {"remove"}

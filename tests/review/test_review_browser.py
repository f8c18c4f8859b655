"""The review UI in a real browser (Playwright driving Debian's Chromium) against a served store."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from _server import Server
from review_helpers import seed_queue

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("CI must run the browser tests: chromium is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, _migrated_db):
    """One server for the module; each test works on its own queues."""
    from unskew.review._auth import add_user
    from unskew.store import open_store

    d = tmp_path_factory.mktemp("served")
    shutil.copy(_migrated_db, d / "review.db")
    store = open_store(f"sqlite:///{d / 'review.db'}")
    from unskew.review import _auth

    saved, _auth.HASH_PARAMS = _auth.HASH_PARAMS, {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
    try:
        for name, role in (("admin", "admin"), ("rev", "reviewer"), ("rev2", "reviewer")):
            add_user(store, name, role, password=f"pw-{name}-123456")
    finally:
        _auth.HASH_PARAMS = saved
    with Server(store.url, log=d / "server.log") as srv:
        yield srv, store


@pytest.fixture
def queues(served, request):
    srv, store = served
    tag = request.node.name[-20:]
    single = seed_queue(store, name=f"single-{tag}", n=4, k=1)
    blind = seed_queue(store, name=f"blind-{tag}", n=4, k=2, payloads=False)
    return srv, store, single, blind


def new_page(browser, srv, name):
    ctx = browser.new_context(base_url=srv.url, accept_downloads=True)
    page = ctx.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", f"pw-{name}-123456")
    page.click("button[type=submit]")
    page.wait_for_url(srv.url + "/")
    page.dialogs = dialogs
    return page


def submit_key(page, key):
    """Press a shortcut that submits the decision form and wait for the next page."""
    with page.expect_navigation():
        page.keyboard.press(key)


def decisions(store, *queue_ids):
    from unskew.review._queues import all_decisions

    return [d for d in all_decisions(store) if d["queue_id"] in queue_ids]


def test_login_keyboard_review_and_relabel(browser, queues):
    srv, store, single, _ = queues
    page = new_page(browser, srv, "rev")
    page.goto(f"/queues/{single}/next")
    assert page.locator("#decision-form").is_visible()
    assert page.locator("table.row").inner_text().count("onerror") >= 1  # the payload shows as text
    first = page.url
    submit_key(page, "k")
    assert page.url != first
    page.keyboard.press("2")  # the second class, "1"
    assert page.locator("#label").input_value() == "1"
    page.keyboard.press("c")
    page.keyboard.type("looks mislabelled")
    page.keyboard.press("Escape")
    submit_key(page, "r")
    submit_key(page, "x")
    d = decisions(store, single)
    assert [(x["action"], x["new_label"]) for x in d] == [("keep", None), ("relabel", "1"), ("remove", None)]
    assert d[1]["comment"] == "looks mislabelled"
    assert page.dialogs == []  # no injected script ran
    # a logged-out browser is sent to the login page
    page.click("header form.logout button")
    page.wait_for_url(srv.url + "/login")
    page.goto(f"/queues/{single}/next")
    assert "/login" in page.url


def test_blind_two_reviewers_kappa_and_adjudication(browser, queues):
    from sklearn.metrics import cohen_kappa_score

    srv, store, _, blind = queues
    a, b = new_page(browser, srv, "rev"), new_page(browser, srv, "rev2")
    plan_a, plan_b = ["k", "x", "k", "k"], ["k", "x", "x", "k"]
    for key_a, key_b in zip(plan_a, plan_b, strict=True):
        a.goto(f"/queues/{blind}/next")
        submit_key(a, key_a)
        b.goto(f"/queues/{blind}/next")
        assert "rev:" not in b.content() and "You decided" not in b.content()  # blind to the other review
        submit_key(b, key_b)
    b.goto(f"/queues/{blind}")
    kappa = cohen_kappa_score(["keep", "remove", "keep", "keep"], ["keep", "remove", "remove", "keep"])
    assert f"{kappa:.3f}" in b.locator("#kappa").inner_text()
    assert "on 4 items with several reviews" in b.locator("#kappa").inner_text()
    b.goto("/")
    assert "method" not in b.locator("table.queues").inner_text()  # counts, not dict methods
    adm = new_page(browser, srv, "admin")
    adm.goto("/adjudication")
    rows = adm.locator("table.adjudication tbody tr")
    assert rows.count() == 1 and "rev: keep; rev2: remove" in rows.first.inner_text()
    with adm.expect_navigation():  # the keys below must reach the item page, not the list
        rows.first.locator("a.button").click()
    adm.keyboard.press("2")
    submit_key(adm, "r")
    assert adm.url == srv.url + "/adjudication"
    assert adm.locator("#no-disputes").is_visible()
    last = decisions(store, blind)[-1]
    assert last["kind"] == "adjudication" and last["action"] == "relabel" and last["new_label"] == "1"
    adm.goto("/trail")
    assert "intact" in adm.locator("#verify").inner_text()


def test_challenge_case_export_and_apply(browser, queues, tmp_path):
    from typer.testing import CliRunner

    from unskew.cli import app

    srv, store, single, _ = queues
    page = new_page(browser, srv, "rev")
    page.goto("/challenges")
    page.fill("#new-set input[name=name]", "night shift")
    page.click("#new-set button")
    page.wait_for_url(lambda u: "/challenges/" in u)
    page.goto(f"/queues/{single}/next")
    with page.expect_navigation():
        page.keyboard.press("n")  # write a challenge case from this row
    assert "item=" in page.url
    page.click("table.sets a")
    assert page.locator("input[name=col_1]").input_value().startswith("<img")  # prefilled from the row
    page.fill("input[name=col_1]", "welder")
    page.fill("input[name=expected]", "1")
    page.fill("input[name=tags]", "rare job;edited")
    page.fill("textarea[name=rationale]", "an unusual job should not flip the label")
    with page.expect_navigation():
        page.click("#case-form button")
    assert "welder" in page.locator("table.cases").inner_text()
    with page.expect_download() as dl:
        page.click("#export-link")
    path = tmp_path / "challenge.csv"
    dl.value.save_as(path)
    cases = pd.read_csv(path)
    assert cases["job"].tolist() == ["welder"] and cases["expected"].tolist() == [1]
    assert {"id", "x", "expected", "tags"} <= set(cases.columns)
    # review two rows, export the decisions as admin and apply them to the table
    page.goto(f"/queues/{single}/next")
    submit_key(page, "x")  # row 0
    page.keyboard.press("1")  # row 1 (label 1) -> class "0"
    submit_key(page, "r")
    adm = new_page(browser, srv, "admin")
    with adm.expect_download() as dl:
        adm.evaluate(f"window.location.href = '/export.csv?queue={single}'")
    dec = tmp_path / "decisions.csv"
    dl.value.save_as(dec)
    table = pd.DataFrame({"x": range(4), "job": [f"job{i}" for i in range(4)], "y": [0, 1, 0, 1]})
    table.to_csv(tmp_path / "table.csv", index=False)
    r = CliRunner().invoke(app, ["review", "apply", str(tmp_path / "table.csv"), str(dec),
                                 "--out", str(tmp_path / "cleaned.csv")])
    assert r.exit_code == 0, r.output
    cleaned = pd.read_csv(tmp_path / "cleaned.csv")
    assert len(cleaned) == 3 and "1 relabelled" in r.output and "1 removed" in r.output
    assert cleaned.loc[cleaned["review_action"] == "relabel", "y"].tolist() == [0]
    assert cleaned.loc[cleaned["review_action"] == "relabel", "review_original_label"].tolist() == [1]

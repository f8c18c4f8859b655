"""The walk-through of docs/review.md on Adult, with the screenshots (headless Chromium).

    UNSKEW_DATA_HOME=/work/shared/datasets python tests/review/screenshots.py OUTDIR

Runs ``unskew audit`` -> ``unskew review import`` -> users -> ``serve`` -> two blind reviewers in
the browser -> adjudication -> a challenge case -> ``export`` -> ``apply`` -> ``verify`` and writes
docs/img/review-{queue,review,adjudication,challenge}.png.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from _server import Server  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def sh(*cmd, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print("$ unskew " + " ".join(cmd[3:]), flush=True)
    t0 = time.time()
    r = subprocess.run(list(cmd), env=env, input=stdin, capture_output=True, text=True)
    print(r.stdout.strip()[-1500:], r.stderr.strip()[-1500:], f"[{time.time() - t0:.0f} s]", sep="\n", flush=True)
    return r


def main(out: Path) -> None:

    from unskew.datasets import load_adult

    out.mkdir(parents=True, exist_ok=True)
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    data = out / "adult.csv"
    store = f"sqlite:///{out / 'review.db'}"
    u = [sys.executable, "-m", "unskew"]
    if (out / "review.db").exists():  # resume a run that stopped after the import
        return browse(out, data, store, u, img)
    adult = load_adult("train")
    adult.insert(0, "id", [f"a{i}" for i in range(len(adult))])
    adult.to_csv(data, index=False)
    sh(*u, "audit", str(data), "--target", "income", "--sensitive", "sex,race", "--ignore", "id",
       "--checks", "label_quality,outliers,duplicates", "--json", str(out / "audit.json"), "--quiet")
    sh(*u, "review", "import", str(data), "--report", str(out / "audit.json"), "--store", store,
       "--queue", "adult-audit", "--key", "id", "--reviews", "2")
    for name, role in (("alice", "admin"), ("bob", "reviewer"), ("carol", "reviewer")):
        sh(*u, "review", "user", "add", name, "--role", role, "--store", store, "--password-stdin",
           stdin=f"{name}-password\n")
    browse(out, data, store, u, img)


def other_label(page) -> str:
    """The class a relabel goes to: the model's prediction, else the first class that is not the label."""
    if page.locator("#prediction").count():
        return page.locator("#prediction").inner_text()
    given = page.locator("#given-label").inner_text()
    options = [o for o in page.locator("#label option").all_inner_texts() if o not in ("—", given)]
    return options[0]


def browse(out, data, store, u, img) -> None:
    from playwright.sync_api import sync_playwright

    with Server(store, log=out / "server.log") as srv, sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS, headless=True)

        def login(name):
            ctx = b.new_context(base_url=srv.url, viewport={"width": 1360, "height": 900}, accept_downloads=True)
            page = ctx.new_page()
            page.goto("/login")
            page.fill("input[name=name]", name)
            page.fill("input[name=password]", f"{name}-password")
            page.click("button[type=submit]")
            page.wait_for_url(srv.url + "/")
            return page

        bob, carol = login("bob"), login("carol")
        plans = {"bob": "kkxkpkx", "carol": "kkxkkkkx"}  # "p": relabel to the model's prediction
        for who, page in (("bob", bob), ("carol", carol)):
            page.goto("/queues/1/next")
            if who == "bob":
                page.screenshot(path=str(img / "review-review.png"), full_page=True)
            keys = plans[who]
            for key in keys:
                if key == "p":
                    page.select_option("#label", other_label(page))
                    key = "r"
                with page.expect_navigation():
                    page.keyboard.press(key)
        carol.goto("/")
        carol.screenshot(path=str(img / "review-queue.png"), full_page=True)
        carol.goto("/queues/1")
        print("queue page:", carol.locator("#kappa").inner_text(), flush=True)
        alice = login("alice")
        alice.goto("/adjudication")
        alice.screenshot(path=str(img / "review-adjudication.png"), full_page=True)
        with alice.expect_navigation():
            alice.locator("table.adjudication a.button").first.click()
        alice.select_option("#label", other_label(alice))
        with alice.expect_navigation():
            alice.keyboard.press("r")
        # a red-team case, prefilled from an item and edited
        alice.goto("/challenges")
        alice.fill("#new-set input[name=name]", "adult red team")
        with alice.expect_navigation():
            alice.click("#new-set button")
        alice.goto(alice.url + "?item=1")
        alice.fill("input[name=expected]", "1")
        alice.fill("input[name=tags]", "self-employed;edited")
        alice.fill("textarea[name=rationale]", "Same profile as the row, hours raised to 60.")
        with alice.expect_navigation():
            alice.click("#case-form button")
        alice.goto(alice.url + "?item=2")
        alice.screenshot(path=str(img / "review-challenge.png"), full_page=True)
        b.close()
    sh(*u, "review", "export", "--store", store, "--out", str(out / "decisions.csv"))
    sh(*u, "review", "apply", str(data), str(out / "decisions.csv"), "--key", "id", "--out", str(out / "cleaned.csv"))
    sh(*u, "review", "verify", "--store", store)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/review-walkthrough"))

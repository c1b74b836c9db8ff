"""The staff pages in a real browser: Debian's headless Chromium, driven by selenium, with
JavaScript turned off. It signs in through the DiscourseConnect stand-in, sets alert
preferences, presses "Send me a test alert", and the alert reaches the Chat stand-in.
Screenshots of /me and /tickets are saved in the test's tmp_path (set
SYNCD_SCREENSHOTS=docs/img to refresh the ones the docs show).

Without Chromium (``/usr/bin/chromium``, ``/usr/bin/chromedriver``) or selenium the test is
skipped, with a warning saying how to install them (``.ci/run`` installs them)."""
from __future__ import annotations

import os
import shutil
import sys
import threading
import warnings
from pathlib import Path

import pytest
import waitress

from syncd.core.tickets import Ticket
from syncd.outbox.workers import DeliveryWorker
from syncd.store import tickets as ticketstore
from syncd.store.db import transaction

from standins import wait_for
from standins.discourse_connect import DiscourseConnectStandIn
from standins.gchat import ChatStandIn
from webkit import CONNECT_SECRET, JANE, web_app, web_settings

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
HOW = ("the browser test needs Debian's Chromium and selenium: "
       "apt-get install -y chromium chromium-driver; pip install -e '.[test]'")


def _browser_or_skip(profile: Path):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        message = f"skipped: {', '.join(missing)} missing. {HOW}"
        warnings.warn(message, UserWarning, stacklevel=2)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + (f"--user-data-dir={profile}", "--window-size=1100,1500"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "profile.managed_default_content_settings.javascript": 2})   # the pages need none
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class _LateApp:
    """A WSGI app set after the server has its port (the config needs that address)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


def _seed(store):
    rows = [(301, "Exam portal says my submission is late", "urgent", 5, ("exam", "portal")),
            (302, "Printer on floor 2 jams on duplex jobs", "high", 7, ("printer",)),
            (303, "How do I reset my library PIN?", "normal", 5, ()),
            (304, "Wi-Fi drops in the reading room", "low", 7, ("network",))]
    with transaction(store.db()) as conn:
        for i, (tid, title, priority, cat, tags) in enumerate(rows):
            ticketstore.save(conn, Ticket(
                id=tid, title=title, priority=priority, category_id=cat, tags=tags,
                url=f"https://forum.example.edu/t/{tid}", author=["asha", "ravi", "meena", "li"][i],
                created_at=f"2026-03-02T0{3 + i}:15:00.000000Z", has_topic=True,
                has_first_post=True, announced=True))


def arrived(driver, part: str, seconds: float = 15) -> None:
    """Wait (bounded) for the page a click led to."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, seconds).until(ec.url_contains(part))
    WebDriverWait(driver, seconds).until(lambda d: d.find_elements("tag name", "h1"))


def _shot(driver, path: Path) -> Path:
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"{path.name}: the screenshot is empty"
    return path


def test_staff_member_signs_in_sets_alerts_and_gets_the_test_alert(tmp_path):
    """Chromium without JavaScript: sign in, save preferences, test alert reaches Chat."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = _browser_or_skip(tmp_path / "profile")
    late = _LateApp()
    server = waitress.create_server(late, host="127.0.0.1", port=0, threads=4)
    base = f"http://127.0.0.1:{server.effective_port}"
    forum = DiscourseConnectStandIn(f"127.0.0.1|{CONNECT_SECRET}", user=JANE)
    with forum, ChatStandIn() as chat:
        settings = web_settings(tmp_path, base_url=base, forum=forum.base_url)
        late.app, store = web_app(settings)
        _seed(store)
        threading.Thread(target=server.run, daemon=True).start()
        try:
            driver.get(f"{base}/me")                      # → /auth/login → forum → back
            assert driver.current_url == f"{base}/me", driver.page_source[:500]
            assert driver.find_element(By.TAG_NAME, "h1").text == "My alerts"

            driver.find_element(By.ID, "event-escalation").click()
            Select(driver.find_element(By.ID, "min_priority")).select_by_value("normal")
            driver.find_element(By.ID, "destination-gchat").click()
            driver.find_element(By.ID, "gchat_url").send_keys(chat.url)
            Select(driver.find_element(By.ID, "timezone")).select_by_value("Asia/Kolkata")
            driver.find_element(By.ID, "save").click()
            arrived(driver, "/me?done=saved")
            assert "Saved." in driver.find_element(By.CLASS_NAME, "notice").text
            assert chat.token not in driver.page_source       # shown back masked only
            assert driver.find_element(By.ID, "event-escalation").is_selected()

            driver.find_element(By.ID, "send-test").click()
            arrived(driver, "/me?done=test")
            worker = DeliveryWorker(settings, store, sleep=lambda s: None)
            assert wait_for(lambda: worker.run_once() or bool(chat.messages), timeout=30)
            assert chat.invalid == [] and "Test alert for @jane" in chat.messages[0]["text"]
            driver.set_window_size(1100, 2300)             # the whole form in one picture
            driver.get(f"{base}/me")
            assert "Last test alert: sent" in driver.find_element(By.CLASS_NAME, "test").text
            me_png = _shot(driver, tmp_path / "me.png")

            driver.get(f"{base}/tickets")
            Select(driver.find_element(By.ID, "f-sort")).select_by_value("urgent")
            driver.find_element(By.ID, "filter").click()
            arrived(driver, "sort=urgent")
            rows = driver.find_elements(By.CSS_SELECTOR, "table.queue tbody tr")
            assert [r.find_element(By.CSS_SELECTOR, ".prio").text for r in rows] == \
                ["URGENT", "HIGH", "NORMAL", "LOW"]
            link = rows[0].find_element(By.PARTIAL_LINK_TEXT, "#301")
            assert link.get_attribute("href") == "https://forum.example.edu/t/301"
            driver.set_window_size(1100, 700)
            tickets_png = _shot(driver, tmp_path / "tickets.png")

            driver.set_window_size(390, 844)              # a phone
            driver.get(f"{base}/tickets")
            width = driver.find_element(By.TAG_NAME, "body").size["width"]
            assert driver.find_element(By.ID, "filter").rect["x"] + 40 < width
            _shot(driver, tmp_path / "tickets-phone.png")

            driver.set_window_size(1100, 1500)
            driver.get(f"{base}/me")
            driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
            arrived(driver, "/auth/logout")
            assert "Signed out" in driver.find_element(By.TAG_NAME, "h1").text
            forum.user = None                              # signed out of the forum too
            driver.get(f"{base}/tickets")                  # the old cookie opens nothing
            assert driver.current_url.startswith(f"{forum.base_url}/login")
        finally:
            driver.quit()
            server.close()
    keep = os.environ.get("SYNCD_SCREENSHOTS")
    if keep:
        for png in (me_png, tickets_png):
            shutil.copy(png, Path(keep) / f"web-{png.name}")


def test_without_a_browser_the_test_says_how_to_install_it(tmp_path, monkeypatch):
    """No Chromium: a skip whose reason (and a warning) tells how to install it, not silence."""
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.warns(UserWarning, match="apt-get install -y chromium chromium-driver"):
        with pytest.raises(pytest.skip.Exception, match="apt-get install"):
            _browser_or_skip(tmp_path / "profile")

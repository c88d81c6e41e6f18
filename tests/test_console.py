"""Issue 8 (first part): the web console in a real browser — Debian's
Chromium, headless, driven over WebDriver (selenium + chromium-driver)
against a real `kumo serve`. Screenshots of each page go to
tests/artifacts/."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not (shutil.which("chromium") or os.path.exists("/usr/bin/chromium"))
    or not os.path.exists("/usr/bin/chromedriver"),
    reason="needs Debian's chromium and chromium-driver (scripts/test installs them as root)")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="kumo-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900",
              # Kumo's server certificate is signed by its own root CA, which this
              # throwaway profile does not trust.
              "--ignore-certificate-errors"):
        opts.add_argument(a)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path="/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def click_and_load(driver, element):
    """Click, then wait until the browser has left the current page (a form
    post or a link): WebDriver's click returns before the navigation ends."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def left(_):
        try:
            page.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            # Chromium's answer when asked mid-navigation about the old page.
            if "does not belong to the document" in str(e):
                return True
            raise
    WebDriverWait(driver, 15).until(left)


def shot(driver, name):
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_issue_8_login_then_the_overview(kumo, browser):
    from selenium.webdriver.common.by import By
    base = f"https://localhost:{kumo.api_port}"
    # Nothing is readable without a session: the console sends you to sign in.
    browser.get(f"{base}/console")
    assert browser.current_url == f"{base}/console/login"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in to Kumo"
    shot(browser, "console-login")
    key, secret = kumo.credentials()
    # A wrong secret is refused on the page.
    browser.find_element(By.ID, "access_key_id").send_keys(key)
    browser.find_element(By.ID, "secret").send_keys("not the secret")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "Wrong access key ID or secret" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    # The right one opens the overview.
    browser.find_element(By.ID, "access_key_id").send_keys(key)
    browser.find_element(By.ID, "secret").send_keys(secret)
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert browser.current_url == f"{base}/console"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    cookie = browser.get_cookie("kumo_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

    def tile(label):
        for t in browser.find_elements(By.CSS_SELECTOR, ".tile"):
            if t.find_element(By.CSS_SELECTOR, ".label").text == label:
                return t.find_element(By.CSS_SELECTOR, ".value").text
        raise AssertionError(f"no tile {label!r}")

    assert tile("Things") == "0"
    kumo.cli("thing", "create", "raspi2")
    kumo.cli("shadow", "update", "raspi2", '{"state":{"reported":{"on":true}}}')
    browser.refresh()
    assert (tile("Things"), tile("Shadows")) == ("1", "1")
    shot(browser, "console-overview")
    # Unknown pages say so; signing out ends the session.
    browser.get(f"{base}/console/nowhere")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    browser.get(f"{base}/console")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.logout button"))
    assert browser.current_url == f"{base}/console/login"
    browser.get(f"{base}/console")
    assert browser.current_url == f"{base}/console/login"


def test_issue_8_the_console_needs_a_session_and_a_csrf_token(kumo):
    """Without a browser: no page but the login is served without a session,
    and a cross-site form post to sign out (no CSRF token) is refused."""
    import http.client
    import ssl
    ctx = ssl.create_default_context(cafile=str(kumo.ca_file))

    def request(method, path, body=None, headers=None):
        c = http.client.HTTPSConnection("localhost", kumo.api_port, context=ctx, timeout=10)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    status, headers, _ = request("GET", "/console")
    assert status == 303 and headers["location"] == "/console/login"
    key, secret = kumo.credentials()
    from urllib.parse import urlencode
    status, headers, _ = request("POST", "/console/login",
                                 urlencode({"access_key_id": key, "secret": secret}),
                                 {"content-type": "application/x-www-form-urlencoded"})
    assert status == 303
    cookie = headers["set-cookie"].split(";")[0]
    status, headers, page = request("GET", "/console", headers={"cookie": cookie})
    assert status == 200 and b"Overview" in page
    assert "default-src 'self'" in headers["content-security-policy"]
    assert len(page) < 100_000
    status, _, _ = request("POST", "/console/logout", "csrf=guess",
                           {"cookie": cookie, "content-type": "application/x-www-form-urlencoded"})
    assert status == 403
    assert request("GET", "/console", headers={"cookie": cookie})[0] == 200


def login(browser, kumo):
    from selenium.webdriver.common.by import By
    base = f"https://localhost:{kumo.api_port}"
    browser.get(f"{base}/console/login")
    key, secret = kumo.credentials()
    browser.find_element(By.ID, "access_key_id").send_keys(key)
    browser.find_element(By.ID, "secret").send_keys(secret)
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    return base


def test_issue_8_things_list_search_and_detail(kumo, browser):
    from selenium.webdriver.common.by import By

    from helpers import make_kit, paho_client
    d, info = make_kit(kumo, "raspi2")
    kumo.cli("thing", "create", "pico")
    kumo.cli("shadow", "update", "raspi2", '{"state":{"desired":{"led":"on"}}}')
    kumo.cli("shadow", "update", "raspi2", "--name", "config", '{"state":{"reported":{"interval":60}}}')
    device = paho_client(kumo, 5, "raspi2", transport="tls",
                         cert=(d / "raspi2.cert.pem", d / "raspi2.private.key"))
    base = login(browser, kumo)
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Things"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert cells == [["pico", "—", "0", "offline"], ["raspi2", "—", "1", "connected"]]
    shot(browser, "console-things")
    # Search.
    browser.find_element(By.ID, "q").send_keys("ras")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.search button"))
    assert [r.find_element(By.TAG_NAME, "a").text
            for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr")] == ["raspi2"]
    # Detail: certificate, policy, connection, shadows.
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "raspi2"))
    assert browser.current_url == f"{base}/console/things/raspi2"
    assert "connected" in browser.find_element(By.TAG_NAME, "h1").text
    cert_row = browser.find_element(By.CSS_SELECTOR, "tbody tr").text
    assert info["certificateId"][:16] in cert_row and "ACTIVE" in cert_row and "raspi2-Policy" in cert_row
    shadows = [s.text for s in browser.find_elements(By.CSS_SELECTOR, "section.shadow")]
    assert shadows[0].startswith("Classic shadow") and '"led": "on"' in shadows[0]
    assert shadows[1].startswith("Named shadow config") and '"interval": 60' in shadows[1]
    shot(browser, "console-thing")
    device.close()
    browser.get(f"{base}/console/things/ghost")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"


def test_issue_8_shadow_view_and_desired_editor(kumo, browser):
    """Desired / reported / delta side by side; editing desired reaches the
    device as a delta; an edit made against an older version is refused
    with the edit kept."""
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from helpers import paho_client
    kumo.cli("thing", "create", "raspi2")
    kumo.cli("shadow", "update", "raspi2",
             '{"state":{"desired":{"led":"on","fan":2},"reported":{"led":"on","fan":1}}}')
    device = paho_client(kumo, 5)
    device.subscribe("$aws/things/raspi2/shadow/update/delta", qos=1)
    base = login(browser, kumo)
    browser.get(f"{base}/console/things/raspi2/shadow")

    def column(k):
        return browser.find_element(By.CSS_SELECTOR, f"[data-section={k}]").text

    assert json.loads(column("desired")) == {"led": "on", "fan": 2}
    assert json.loads(column("reported")) == {"led": "on", "fan": 1}
    assert json.loads(column("delta")) == {"fan": 2}
    shot(browser, "console-shadow")
    # Edit desired: fan 3, led removed.
    box = browser.find_element(By.ID, "desired")
    box.clear()
    box.send_keys('{"fan": 3}')
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.editor button"))
    assert "Saved." in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert json.loads(column("desired")) == {"fan": 3}
    msgs = device.messages.wait_until(lambda ms: any(json.loads(m.payload)["state"] == {"fan": 3}
                                                     for m in ms), what="the delta")
    assert msgs
    # The view follows the shadow live: the device reports, the page shows it.
    kumo.cli("shadow", "update", "raspi2", '{"state":{"reported":{"fan":3}}}')
    WebDriverWait(browser, 10).until(lambda b: column("reported").startswith("{") and
                                     json.loads(column("reported")) == {"led": "on", "fan": 3})
    assert column("delta") == "—"
    # Someone else changes the shadow while this user edits: the page says
    # so, and saving is a version conflict that keeps the edit.
    box = browser.find_element(By.ID, "desired")
    box.clear()
    box.send_keys('{"fan": 4}')
    kumo.cli("shadow", "update", "raspi2", '{"state":{"reported":{"fan":4}}}')
    WebDriverWait(browser, 10).until(
        lambda b: b.find_element(By.ID, "shadow-changed").is_displayed())
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.editor button"))
    assert "Version conflict" in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert browser.find_element(By.ID, "desired").get_attribute("value") == '{"fan": 4}'
    shot(browser, "console-shadow-conflict")


def test_issue_8_certificates_can_be_deactivated_and_revoked(kumo, browser):
    from selenium.webdriver.common.by import By

    from helpers import make_kit, raw_client
    d, info = make_kit(kumo, "raspi2")
    cert_id = info["certificateId"]
    device = raw_client(kumo, 5, "raspi2", transport="tls",
                        cert=(d / "raspi2.cert.pem", d / "raspi2.private.key"))
    login(browser, kumo)
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Certificates"))

    def row():
        return browser.find_element(By.CSS_SELECTOR, f"tr[data-certificate='{cert_id}']")

    assert "ACTIVE" in row().text and "raspi2" in row().text and "raspi2-Policy" in row().text
    shot(browser, "console-certificates")
    click_and_load(browser, row().find_element(By.XPATH, ".//button[text()='Deactivate']"))
    assert "is now INACTIVE" in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert "INACTIVE" in row().text
    # The device's connection was closed at once (MQTT 5: DISCONNECT 0x87).
    packets = device.wait_closed()
    assert any(p.name == "DISCONNECT" and p.reason == 0x87 for p in packets), packets
    click_and_load(browser, row().find_element(By.XPATH, ".//button[text()='Activate']"))
    assert "ACTIVE" in row().text
    click_and_load(browser, row().find_element(By.XPATH, ".//button[text()='Revoke']"))
    assert "REVOKED" in row().text and not row().find_elements(By.TAG_NAME, "button")


def test_issue_8_policies_list_view_and_editor(kumo, browser):
    import json

    from selenium.webdriver.common.by import By

    from helpers import make_kit
    make_kit(kumo, "raspi2")
    login(browser, kumo)
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Policies"))
    assert [td.text for td in browser.find_element(By.CSS_SELECTOR, "tbody tr")
            .find_elements(By.TAG_NAME, "td")] == ["raspi2-Policy", "1", "1", "1 certificate"]
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "raspi2-Policy"))
    doc = json.loads(browser.find_element(By.ID, "document").get_attribute("value"))
    assert doc["Version"] == "2012-10-17"
    shot(browser, "console-policy")

    def save(text):
        box = browser.find_element(By.ID, "document")
        box.clear()
        box.send_keys(text)
        click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.editor button"))
        return browser.find_element(By.CSS_SELECTOR, "[role=status]").text

    # Not JSON: the message says the line; the draft is kept for fixing.
    msg = save('{\n  "Version": "2012-10-17",\n  "Statement": [\n}')
    assert "MalformedPolicyException" in msg and "line 4" in msg, msg
    assert browser.find_element(By.ID, "document").get_attribute("value").startswith('{\n  "Version"')
    # A bad element: the message names it.
    bad = dict(doc, Statement=[dict(doc["Statement"][0], Effect="Permit")])
    msg = save(json.dumps(bad, indent=2))
    assert "Statement[0].Effect" in msg, msg
    shot(browser, "console-policy-error")
    # A good one becomes version 2, the default.
    assert "Saved as version 2" in save(json.dumps(doc, indent=2))
    assert kumo.aws("iot").get_policy(policyName="raspi2-Policy")["defaultVersionId"] == "2"

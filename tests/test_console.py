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
    """A screenshot of the whole page (not just the window) as a test artifact."""
    import base64
    ARTIFACTS.mkdir(exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    png = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(png["data"]))


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

    ws_upgrade = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-version": "13",
                  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
                  "origin": f"https://localhost:{kumo.api_port}"}
    for path, headers in [("/console", {}), ("/console/stats", {}), ("/console/test", {}),
                          ("/console/status?certificates=x", {}), ("/console/connect", {}),
                          ("/console/console.js", {}), ("/console/live", ws_upgrade)]:
        status, answer, _ = request("GET", path, headers=headers)
        assert status == 303 and answer["location"] == "/console/login", path
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
    # The live WebSocket: with the session, from the console's origin only.
    assert request("GET", "/console/live", headers=dict(ws_upgrade, cookie=cookie))[0] == 101
    cross_site = dict(ws_upgrade, cookie=cookie, origin="https://evil.example")
    assert request("GET", "/console/live", headers=cross_site)[0] == 403


def login(browser, kumo):
    from selenium.webdriver.common.by import By
    base = f"https://localhost:{kumo.api_port}"
    browser.get(f"{base}/console/login")
    key, secret = kumo.credentials()
    browser.find_element(By.ID, "access_key_id").send_keys(key)
    browser.find_element(By.ID, "secret").send_keys(secret)
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    return base


def allow_downloads(browser, kumo) -> Path:
    """Downloads go to a fresh folder, which is returned."""
    downloads = kumo.workdir / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})
    return downloads


def run_wizard(browser, thing: str, platform: str) -> list[str]:
    """The wizard's first step (on its page): name, platform, submit. Returns
    the commands the next page shows."""
    from selenium.webdriver.common.by import By
    browser.find_element(By.ID, "thing").send_keys(thing)
    browser.find_element(By.ID, f"platform-{platform}").click()
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]"))
    return browser.find_element(By.ID, "commands").text.splitlines()


def download_kit(browser, downloads: Path, wait) -> Path:
    import zipfile
    from selenium.webdriver.common.by import By
    browser.find_element(By.ID, "download").click()
    kit = downloads / "connect_device_package.zip"
    wait.until(lambda b: kit.exists() and zipfile.is_zipfile(kit))
    return kit


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
    from selenium.common.exceptions import StaleElementReferenceException
    WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: column("reported").startswith("{") and
        json.loads(column("reported")) == {"led": "on", "fan": 3})
    assert column("delta") == "No delta: the device reports what is desired."
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
    assert msg.startswith("Line 4: "), msg
    assert browser.find_element(By.ID, "document").get_attribute("value").startswith('{\n  "Version"')
    # A bad element: the message names it.
    bad = dict(doc, Statement=[dict(doc["Statement"][0], Effect="Permit")])
    text = json.dumps(bad, indent=2)
    msg = save(text)
    assert "Statement[0].Effect" in msg, msg
    # ... and is shown at its line: the message, an excerpt, the cursor.
    line = next(i for i, l in enumerate(text.splitlines(), 1) if '"Permit"' in l)
    assert msg.startswith(f"Line {line}: MalformedPolicyException"), msg
    assert browser.find_element(By.CSS_SELECTOR, "pre.excerpt mark").text.strip() == \
        f'{line}  {text.splitlines()[line - 1]}'
    selected = browser.execute_script(
        "const t = document.activeElement; return [t.id, t.value.slice(t.selectionStart, t.selectionEnd)];")
    assert selected == ["document", '      "Effect": "Permit",']
    shot(browser, "console-policy-error")
    # A good one becomes version 2, the default.
    assert "Saved as version 2" in save(json.dumps(doc, indent=2))
    assert kumo.aws("iot").get_policy(policyName="raspi2-Policy")["defaultVersionId"] == "2"


def test_issue_8_connect_one_device_end_to_end(kumo, browser):
    """Seed 000 in the console: the wizard makes the thing and its kit, the
    kit is downloaded through the browser, an awsiotsdk device connects with
    nothing but the kit's files and the wizard turns green with its first
    message; the test client (an admin connection, visible in the lifecycle
    events) sees the device's messages and publishes to it; a desired-state
    edit reaches the device as a delta, and the device's report shows up on
    the shadow page live."""
    import json
    import threading
    import zipfile

    from awscrt import mqtt
    from awsiot import mqtt_connection_builder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from helpers import paho_client

    from selenium.common.exceptions import StaleElementReferenceException
    # Live parts replace elements: a lookup may race a replacement.
    wait = WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,))
    downloads = allow_downloads(browser, kumo)
    # Watches the lifecycle events from outside the console.
    watcher = paho_client(kumo, 5)
    watcher.subscribe("$aws/events/presence/connected/+", qos=1)

    # Step 1: name and platform.
    login(browser, kumo)
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Connect a device"))
    shot(browser, "console-connect-1-form")
    # Step 2: the commands and the live wait.
    assert run_wizard(browser, "raspi2", "python") == [
        "unzip connect_device_package.zip -d raspi2", "cd raspi2", "chmod +x start.sh", "./start.sh"]
    status = browser.find_element(By.ID, "wait-status")
    assert status.text == "Waiting for your device to connect…"
    cert_id = browser.find_element(By.ID, "wait-device").get_attribute("data-certificate")
    described = kumo.aws("iot").describe_certificate(certificateId=cert_id)["certificateDescription"]
    assert described["status"] == "ACTIVE"
    shot(browser, "console-connect-2-waiting")
    # The kit, downloaded by the browser.
    kit = download_kit(browser, downloads, wait)
    device_dir = kumo.workdir / "raspi2"
    with zipfile.ZipFile(kit) as zf:
        zf.extractall(device_dir)
        assert "start.sh" in zf.namelist() and "main.py" in zf.namelist()
    start = (device_dir / "start.sh").read_text()
    assert f"--endpoint localhost --port {kumo.tls_port}" in start

    # The device: the AWS IoT Device SDK v2 with the kit's files, as pubsub.py.
    got, cond = [], threading.Condition()

    def on_message(topic, payload, **kw):
        with cond:
            got.append((topic, json.loads(payload)))
            cond.notify_all()

    device = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=kumo.tls_port, cert_filepath=str(device_dir / "raspi2.cert.pem"),
        pri_key_filepath=str(device_dir / "raspi2.private.key"),
        ca_filepath=str(device_dir / "root-CA.crt"), client_id="basicPubSub",
        clean_session=True, keep_alive_secs=30)
    device.connect().result(20)
    try:
        for topic in ("raspi2/commands", "$aws/things/raspi2/shadow/update/delta"):
            device.subscribe(topic=topic, qos=mqtt.QoS.AT_LEAST_ONCE, callback=on_message)[0].result(20)
        wait.until(lambda b: "Connected!" in status.text)
        assert status.text == "Connected! Your device is online as client ID basicPubSub."
        assert "good" in status.get_attribute("class")

        def hello(n):
            device.publish(topic="sdk/test/python", payload=json.dumps(f"Hello World! [{n}]"),
                           qos=mqtt.QoS.AT_LEAST_ONCE)[0].result(20)

        # The wizard subscribes once the device is there; publish until it shows.
        n = 0

        def first_message(b):
            nonlocal n
            n += 1
            hello(n)
            return b.find_elements(By.CSS_SELECTOR, "#first-messages li")
        wait.until(first_message)
        first = browser.find_element(By.CSS_SELECTOR, "#first-messages li")
        assert "sdk/test/python" in first.text and "Hello World! [" in first.text
        shot(browser, "console-connect-3-connected")

        # The test client: subscribe, see the device's messages.
        click_and_load(browser, browser.find_element(By.LINK_TEXT, "Test client"))
        wait.until(lambda b: b.find_element(By.ID, "live-status").text.startswith("Connected as kumo-console-"))
        console_id = browser.find_element(By.ID, "live-status").text.split()[-1].rstrip(".")
        # The console's client is in the lifecycle events as an admin principal.
        events = watcher.messages.wait_until(
            lambda ms: any(json.loads(m.payload)["clientId"] == console_id for m in ms),
            what="the console's connected event")
        ev = next(json.loads(m.payload) for m in events if json.loads(m.payload)["clientId"] == console_id)
        assert ev["principalIdentifier"] == kumo.credentials()[0]
        browser.find_element(By.ID, "filter").send_keys("sdk/test/#")
        Select(browser.find_element(By.ID, "sub-qos")).select_by_value("1")
        browser.find_element(By.CSS_SELECTOR, "#sub-form button").click()
        wait.until(lambda b: "Subscribed to sdk/test/#." in b.find_element(By.ID, "pub-note").text)
        device.publish(topic="sdk/test/python", payload=json.dumps({"temperature": 21.5, "seq": 1}),
                       qos=mqtt.QoS.AT_LEAST_ONCE)[0].result(20)
        card = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#messages article.msg"))[0]
        assert card.find_element(By.CSS_SELECTOR, ".topic").text == "sdk/test/python"
        # Pretty-printed JSON.
        assert card.find_element(By.TAG_NAME, "pre").text == '{\n  "temperature": 21.5,\n  "seq": 1\n}'
        assert "QoS 1" in card.text and "JSON" in card.text and "from basicPubSub" in card.text
        # Pause holds messages back, Resume shows them, Export saves what came.
        cards = lambda b: b.find_elements(By.CSS_SELECTOR, "#messages article.msg")  # noqa: E731
        pause = browser.find_element(By.ID, "pause")
        pause.click()
        assert pause.get_attribute("aria-pressed") == "true"
        device.publish(topic="sdk/test/python", payload=b"plain text", qos=mqtt.QoS.AT_LEAST_ONCE)[0].result(20)
        wait.until(lambda b: pause.text == "Resume (1 held)")
        assert len(cards(browser)) == 1
        pause.click()
        wait.until(lambda b: len(cards(b)) == 2)
        assert cards(browser)[0].find_element(By.TAG_NAME, "pre").text == "plain text"
        browser.find_element(By.ID, "export").click()
        exported = downloads / "kumo-messages.json"
        wait.until(lambda b: exported.exists() and exported.stat().st_size > 0)
        saved = json.loads(exported.read_text())
        assert [(m["topic"], m["payload"], m["client"]) for m in saved] == [
            ("sdk/test/python", json.dumps({"temperature": 21.5, "seq": 1}), "basicPubSub"),
            ("sdk/test/python", "plain text", "basicPubSub")]
        shot(browser, "console-test-client")
        browser.find_element(By.ID, "clear").click()
        assert cards(browser) == []
        # Publish from the console to the device.
        topic = browser.find_element(By.ID, "topic")
        topic.send_keys("raspi2/commands")
        payload = browser.find_element(By.ID, "payload")
        payload.clear()
        payload.send_keys('{"led": "on"}')
        Select(browser.find_element(By.ID, "pub-qos")).select_by_value("1")
        browser.find_element(By.CSS_SELECTOR, "#pub-form button").click()
        with cond:
            assert cond.wait_for(lambda: ("raspi2/commands", {"led": "on"}) in got, 20), got
        wait.until(lambda b: "Published to raspi2/commands." in b.find_element(By.ID, "pub-note").text)

        # The shadow: edit desired in the console, the device gets the delta.
        browser.get(f"https://localhost:{kumo.api_port}/console/things/raspi2")
        badge = browser.find_element(By.CSS_SELECTOR, "h1 [data-certificates]")
        assert badge.text == "connected as basicPubSub"
        shot(browser, "console-thing")
        browser.get(f"https://localhost:{kumo.api_port}/console/things/raspi2/shadow")
        box = browser.find_element(By.ID, "desired")
        box.clear()
        box.send_keys('{"led": "green"}')
        click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.editor button"))
        with cond:
            assert cond.wait_for(lambda: any(t.endswith("/delta") for t, _ in got), 20), got
        delta = next(p for t, p in got if t.endswith("/delta"))
        assert delta["state"] == {"led": "green"} and delta["version"] == 1
        # The device reports; the page shows it without a reload.
        device.publish(topic="$aws/things/raspi2/shadow/update",
                       payload=json.dumps({"state": {"reported": {"led": "green"}}}),
                       qos=mqtt.QoS.AT_LEAST_ONCE)[0].result(20)
        col = lambda k: browser.find_element(By.CSS_SELECTOR, f"[data-section={k}]").text  # noqa: E731
        wait.until(lambda b: col("reported").startswith("{") and json.loads(col("reported")) == {"led": "green"})
        assert col("delta") == "No delta: the device reports what is desired."
        assert browser.find_element(By.ID, "shadow-version").text == "2"
        shot(browser, "console-shadow-live")
        # The overview counts messages per second.
        browser.get(f"https://localhost:{kumo.api_port}/console")
        for i in range(20):
            hello(100 + i)
        wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "[data-stat=in]").text != "—")
        shot(browser, "console-overview-live")
    finally:
        device.disconnect().result(20)
    # The thing page follows the disconnect.
    browser.get(f"https://localhost:{kumo.api_port}/console/things/raspi2")
    wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "h1 [data-certificates]").text == "offline")


def test_issue_8_every_page_fits_a_phone_and_weighs_under_100_kb(kumo, browser):
    """Each page at a phone's width (390 px) has no sideways scrolling, and
    a page with everything it loads (HTML, stylesheet, script) is under
    100 KB."""
    from helpers import make_kit
    make_kit(kumo, "raspi2")
    kumo.cli("shadow", "update", "raspi2", '{"state":{"desired":{"led":"on"},"reported":{"led":"off"}}}')
    base = login(browser, kumo)
    browser.set_window_size(390, 844)
    pages = {"overview": "/console", "things": "/console/things", "thing": "/console/things/raspi2",
             "shadow": "/console/things/raspi2/shadow", "certificates": "/console/certificates",
             "policies": "/console/policies", "policy": "/console/policies/raspi2-Policy",
             "test-client": "/console/test?filter=raspi2/%23", "connect": "/console/connect"}
    for name, path in pages.items():
        browser.get(base + path)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        size = browser.execute_script(
            "return performance.getEntriesByType('navigation')[0].transferSize + "
            "performance.getEntriesByType('resource').reduce((n, r) => n + r.transferSize, 0)")
        assert 0 < size < 100_000, f"{path} weighs {size} bytes"
        # Every control has a label a screen reader can say.
        unlabelled = browser.execute_script("""
            return [...document.querySelectorAll(
                'input:not([type=hidden]), select, textarea, button, a[href]')]
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                           && !e.textContent.trim())
              .map(e => e.outerHTML.slice(0, 80));""")
        assert unlabelled == [], f"{path}: {unlabelled}"
        shot(browser, f"console-phone-{name}")


def test_issue_8_the_wizard_for_rust_runs_kumo_device(kumo, browser):
    """Platform Rust: the commands the wizard shows, run as shown (with
    kumo-device from this build), connect the device and turn it green."""
    import subprocess

    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from test_device import DEVICE
    downloads = allow_downloads(browser, kumo)
    wait = WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,))
    base = login(browser, kumo)
    browser.get(f"{base}/console/connect")
    commands = run_wizard(browser, "pi-rust", "rust")
    assert commands == ["unzip connect_device_package.zip -d pi-rust", "cd pi-rust",
                        "chmod +x start-kumo-device.sh", "./start-kumo-device.sh"]
    download_kit(browser, downloads, wait)
    env = dict(os.environ, KUMO_DEVICE=str(DEVICE), COUNT="3")
    run = subprocess.run(["bash", "-ec", "\n".join(commands)], cwd=downloads, env=env, capture_output=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    assert "3 message(s) received." in run.stdout.decode()
    status = browser.find_element(By.ID, "wait-status")
    wait.until(lambda b: "Connected!" in status.text)
    assert status.text == "Connected! Your device is online as client ID basicPubSub."
    first = browser.find_element(By.CSS_SELECTOR, "#first-messages li")
    assert "Hello World! [" in first.text
    shot(browser, "console-connect-rust")


def test_issue_8_the_console_works_from_the_keyboard(kumo, browser):
    """Sign in, skip to the content, and run the wizard's first step with
    keys alone: autofocus, Tab, arrow keys in the platform choice, Enter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base = f"https://localhost:{kumo.api_port}"
    browser.get(f"{base}/console/login")
    key, secret = kumo.credentials()
    active = browser.switch_to.active_element
    assert active.get_attribute("id") == "access_key_id"
    active.send_keys(key, Keys.TAB)
    browser.switch_to.active_element.send_keys(secret)
    page = browser.find_element(By.TAG_NAME, "html")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.webdriver.support import expected_conditions as EC
    WebDriverWait(browser, 15).until(EC.staleness_of(page))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    # The first Tab reaches the skip link.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
    browser.get(f"{base}/console/connect")
    thing = browser.find_element(By.ID, "thing")
    thing.send_keys("pico-kb", Keys.TAB)
    radio = browser.switch_to.active_element
    assert radio.get_attribute("id") == "platform-python"
    radio.send_keys(Keys.ARROW_DOWN)
    assert browser.switch_to.active_element.get_attribute("id") == "platform-micropython"
    page = browser.find_element(By.TAG_NAME, "html")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, 15).until(EC.staleness_of(page))
    commands = browser.find_element(By.ID, "commands").text.splitlines()
    assert "mpremote cp pico-kb.cert.der pico-kb.private.key.der :cert/" in commands
    shot(browser, "console-connect-micropython")

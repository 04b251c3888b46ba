"""divcolor-web in a real browser (issue 45): Debian's headless Chromium driven by Playwright, the
server started as a user starts it (the console script, a free loopback port, the bundled general
model), every step checked on the pixels the page gets back. The browser may reach loopback only:
any other request is refused and fails the test (the page must load nothing from the internet).

Skips, saying so, only when chromium is not installed (.ci/run installs Debian's package).
"""

import contextlib
import io
import os
import re
import select
import shutil
import struct
import urllib.parse
import subprocess
import zlib

import numpy as np
from PIL import Image
import pytest
import skimage
from skimage import color as skcolor

from conftest import ROOT
from conftest import console_script
from conftest import tool_env

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROCKET = os.path.join(os.path.dirname(skimage.__file__), "data", "rocket.jpg")
SKY = (200, 160)  # rocket.jpg's dusk sky, in its pixels
BLUE = "#2f6fe0"
LOOPBACK = re.compile(r"^(https?|ws)://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/")

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=(
    "chromium is not installed (Debian's package: apt-get install chromium; .ci/run installs it)"))


@pytest.fixture(scope="module")
def server():
  """divcolor-web on a free loopback port with the bundled general model: its URL."""
  process = subprocess.Popen(
      console_script("divcolor-web") + ["--model", str(ROOT / "saved_models" / "divcolor_imagenet"),
                                        "--port", "0"],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=tool_env())
  try:
    # the URL line, printed once the model is loaded and the port bound (3 minutes at most)
    ready, _, _ = select.select([process.stdout], [], [], 180)
    line = process.stdout.readline() if ready else "(nothing in 180 s)"
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert found, (line, process.poll() is not None and process.stderr.read())
    yield found.group(0)
  finally:
    process.terminate()
    try:
      process.wait(timeout=20)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()
  # the server said nothing but its URL line: no traceback while it served
  assert not re.search(r"Traceback|Error", process.stderr.read())


@pytest.fixture(scope="module")
def browser():
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  with sync_playwright() as playwright:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield launched
    launched.close()


@contextlib.contextmanager
def _loopback_page(browser):
  """A page of ``browser`` that may reach loopback only; requests elsewhere are refused, and
  fail the test when the page closes."""
  context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
  outside = []

  def route(request_route):
    if LOOPBACK.match(request_route.request.url):
      request_route.continue_()
    else:
      outside.append(request_route.request.url)
      request_route.abort()

  context.route("**/*", route)
  try:
    yield context.new_page()
  finally:
    context.close()
  assert not outside, f"the page asked for something outside this machine: {outside}"


@pytest.fixture
def page(browser):
  with _loopback_page(browser) as loopback_page:
    yield loopback_page


def _png(page, url):
  url = urllib.parse.urljoin(page.url, url)
  response = page.request.get(url)
  assert response.ok, (url, response.status, response.text()[:300])
  assert response.headers["content-type"] == "image/png"
  return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def _state(page, server):
  return page.request.get(server + "api/" + page.evaluate("state.id")).json()


def _wait_for(page, mode, count):
  """Waits until the page shows ``count`` loaded outputs in ``mode``; their pixels."""
  page.wait_for_function(
      """([mode, count]) => window.state && state.mode === mode &&
           document.querySelectorAll('.output img').length === count &&
           [...document.querySelectorAll('.output img')].every(i => i.complete && i.naturalWidth)
           && !document.body.classList.contains('busy')""", arg=[mode, count], timeout=60_000)
  return [_png(page, img.get_attribute("src")) for img in page.query_selector_all(".output img")]


def _blend(page, t):
  page.locator("#blend-t").fill(str(t))
  page.wait_for_function(
      """t => { const i = document.getElementById('blend-img');
                return i.src.endsWith('t=' + t) && i.complete && i.naturalWidth; }""",
      arg=str(t), timeout=30_000)
  return _png(page, page.get_attribute("#blend-img", "src"))


def _b_star(images, box):
  (x0, y0), (x1, y1) = box
  return float(np.mean([skcolor.rgb2lab(image[y0:y1, x0:x1])[..., 2].mean() for image in images]))


def test_upload_more_blend_hint_and_download(server, page, tmp_path):
  page.goto(server)
  page.set_input_files("#file", ROCKET)
  top = _wait_for(page, "top", 5)
  state = _state(page, server)
  assert (state["width"], state["height"]) == (640, 427)
  assert all(image.shape == (342, 512, 3) for image in top)  # previews: 512 on the longer side
  weights = [float(re.search(r"[\d.]+", w).group(0))
             for w in page.locator(".output .weight").all_inner_texts()]
  assert weights == sorted(weights, reverse=True) and 0 < sum(weights) <= 1.001
  assert all(np.abs(top[0].astype(int) - other).mean() > 1 for other in top[1:])

  # "More like #2": 4 draws near output 2, nearer to it than the other top outputs are
  page.click("text=More like #2")
  more = _wait_for(page, "more like #2", 4)
  near = np.mean([np.abs(draw.astype(int) - top[1]).mean() for draw in more])
  far = np.mean([np.abs(other.astype(int) - top[1]).mean()
                 for i, other in enumerate(top) if i != 1])
  assert near < far, (near, far)

  # the blend: t = 0 and t = 1 are the two outputs to the bit, t = 0.5 neither
  page.select_option("#blend-a", "0")
  page.select_option("#blend-b", "2")
  np.testing.assert_array_equal(_blend(page, 0), more[0])
  np.testing.assert_array_equal(_blend(page, 1), more[2])
  middle = _blend(page, 0.5)
  assert not np.array_equal(middle, more[0]) and not np.array_equal(middle, more[2])

  # a blue hint in the sky (a click on the grey photo): the region's b* falls
  page.click("#reset")
  top = _wait_for(page, "top", 5)
  page.locator("#hint-colour").fill(BLUE)
  grey = page.locator("#grey").bounding_box()
  page.mouse.click(grey["x"] + SKY[0] / 640 * grey["width"],
                   grey["y"] + SKY[1] / 427 * grey["height"])
  hinted = _wait_for(page, "hinted", 5)
  hint = _state(page, server)["hints"][0]
  assert abs(hint[0] - SKY[0]) < 3 and abs(hint[1] - SKY[1]) < 3 and hint[2] == BLUE
  assert page.locator(".hint").count() == 1
  sx, sy = round(SKY[0] * 0.8), round(SKY[1] * 0.8)  # in the 512-wide previews
  box = ((sx - 16, sy - 16), (sx + 16, sy + 16))
  before, after = _b_star(top, box), _b_star(hinted, box)
  assert after < before - 15, (before, after)  # measured: mean b* -8.2 -> -45.2

  # download: the full resolution PNG of output 1, the preview's colours
  with page.expect_download() as download:
    page.locator(".output a.download").first.click()
  path = tmp_path / download.value.suggested_filename
  download.value.save_as(path)
  assert path.name == "rocket_hinted_1.png"
  full = np.asarray(Image.open(path).convert("RGB"))
  assert full.shape == (427, 640, 3)
  shrunk = np.asarray(Image.fromarray(full).resize((512, 342), Image.BILINEAR)).astype(int)
  assert np.abs(shrunk - hinted[0]).mean() < 4


def _png_header_only(width, height):
  """A PNG whose header says width x height (and holds no pixels): refused from its header."""
  def chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))
  header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
  return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_bad_uploads_are_one_line_on_the_page_and_the_server_goes_on(server, browser, page,
                                                                    tmp_path):
  page.goto(server)
  cases = {
      "notes.jpg": (b"not a photo at all\n", "not an image"),
      "truncated.jpg": (open(ROCKET, "rb").read()[:3000], "cannot decode"),
      "huge.png": (_png_header_only(10000, 10000), "megapixels"),
  }
  for name, (blob, problem) in cases.items():
    page.set_input_files("#file", files=[{"name": name, "mimeType": "image/jpeg", "buffer": blob}])
    page.wait_for_function("document.getElementById('message').className === 'error'",
                           timeout=30_000)
    message = page.inner_text("#message")
    assert message.startswith(name + ":") and problem in message and "\n" not in message, message
    page.evaluate("say('')")
  # a photo with alpha (composited over white), and two browsers at once: a second Chromium,
  # its own process (not a page of the first: no shared renderer, cookies or connections),
  # picks an example while the first uploads; each is served its own photo's outputs
  rgba = Image.open(ROCKET).convert("RGBA").resize((160, 107))
  rgba.putalpha(128)
  buffer = io.BytesIO()
  rgba.save(buffer, format="PNG")
  second = browser.browser_type.launch(executable_path=CHROMIUM, headless=True)
  try:
    with _loopback_page(second) as other:
      other.goto(server)
      page.set_input_files("#file", files=[{"name": "alpha.png", "mimeType": "image/png",
                                            "buffer": buffer.getvalue()}])
      other.click("button.example[data-name=chelsea]")
      mine, theirs = _wait_for(page, "top", 5), _wait_for(other, "top", 5)
      assert [image.shape for image in mine] == [(107, 160, 3)] * 5
      assert [image.shape for image in theirs] == [(300, 451, 3)] * 5  # chelsea: under a preview
      first, then = _state(page, server), _state(other, server)
      assert (first["name"], then["name"]) == ("alpha.png", "chelsea") and first["id"] != then["id"]
      assert page.inner_text("#message") == "" and other.inner_text("#message") == ""
  finally:
    second.close()

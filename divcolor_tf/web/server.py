"""The local page of ``divcolor-web``: a thin layer over :mod:`divcolor_tf.inference.steer`.

Framework: a small Starlette app (served by uvicorn) with one static HTML/JS page, not Gradio.
  * Offline by construction: the page is one file of this package (its CSS and script inline); it
    loads nothing from another host, no font, no script, no CDN (the browser test runs Chromium
    with every address but loopback refused and checks that no request left the machine).
    Gradio's page loads web fonts from a CDN unless told not to, and its front end is a bundle we
    do not control.
  * Small: starlette + uvicorn take 4.6 MB installed with what they pull in (anyio, h11,
    click); Gradio brings FastAPI, pandas, pydantic, a Hugging Face client and its own front-end
    bundle (its size not measured here: it was never installed).
  * A stable surface for a browser test: our own element ids and JSON routes, which change only
    when we change them; Gradio's generated DOM and its client protocol change between its major
    versions.

What it keeps: up to ``MAX_PHOTOS`` photos in memory (the oldest is dropped), each as a
:class:`steer.Photo` (its lightness and its mixture) and the codes of the outputs on show. An
upload is read into memory and decoded from an anonymous in-memory file (``os.memfd_create``),
never written to a disk; nothing else is written either: no temporary file exists to remove.
The photo is checked by ``data.load_rgb`` as every photo of the project is: not an image,
truncated, over the pixel budget (read from its header, never decoded), alpha composited over
white. Every problem is one line of JSON (``{"error": ...}``, status 400 or 413) that the page
shows; the server goes on. One model, so one computation at a time (a lock): two browsers are
served in turn, each its own photo's outputs (tests/web/test_web.py: two Chromium processes at
once).
"""

import collections
import io
import os
import pathlib
import secrets
import threading
import urllib.parse

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from divcolor_tf import data
from divcolor_tf.inference import steer

PAGE = pathlib.Path(__file__).with_name("static") / "index.html"
EXAMPLES = ("chelsea", "coffee", "rocket", "astronaut")  # scikit-image's data (in its wheel)
MAX_PHOTOS = 8  # photos kept in memory at once (the oldest dropped)
MAX_UPLOAD_BYTES = 200 << 20  # an upload larger than this is refused before it is read whole
PREVIEW_SIDE = 512  # the page's images: at most this many pixels on the longer side
MORE = 4  # "more like this": draws


class Problem(Exception):
  """A request that cannot be served: one line, and its HTTP status."""

  def __init__(self, message, status=400):
    super().__init__(" ".join(str(message).split()))
    self.status = status


class Session:
  """One photo on show: the full-resolution and preview :class:`steer.Photo`, its grey preview,
  and the outputs on show (codes, components)."""

  def __init__(self, name, photo, k):
    self.name, self.photo, self.preview = name, photo, photo.at_size(PREVIEW_SIDE)
    self.k = k
    grey = np.asarray(self.preview.lightness[0, ..., 0]) * (255 / 100)
    self.grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    self.version = 0
    self.hints = []
    self.show(self.preview.top_k(k), "top")

  def show(self, result, mode):
    self.z, self.components, self.mode = result.z, result.components, mode
    self.images = result.colorizations  # previews
    self.weights = result.weights
    self.version += 1


def png(rgb, name=None):
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(rgb)).save(buffer, format="PNG", compress_level=1)
  headers = {"Cache-Control": "no-store"}
  if name:
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
  return Response(buffer.getvalue(), media_type="image/png", headers=headers)


def decode_upload(blob, name, max_megapixels):
  """uint8 RGB of an uploaded file's bytes (``data.load_rgb`` on an in-memory file: the same
  checks as any photo), or a :class:`Problem` naming ``name``."""
  if not blob:
    raise Problem(f"{name}: empty upload")
  fd = os.memfd_create("divcolor-upload", os.MFD_CLOEXEC)
  try:
    os.write(fd, blob)
    return data.load_rgb(f"/proc/self/fd/{fd}", min_side=1, max_megapixels=max_megapixels,
                         budget_name="max_megapixels; divcolor-web --max_megapixels")
  except data.ImageError as e:
    status = 413 if "megapixels" in e.problem else 400
    raise Problem(f"{name}: {e.problem}", status) from None
  finally:
    os.close(fd)


def make_app(colorizer, k=5):
  """The Starlette app of the page over ``colorizer`` (ours: a mixture to steer; ValueError in
  one line otherwise)."""
  steer.check(colorizer)
  return Starlette(routes=_Page(colorizer, k).routes())


def _guarded(handler):
  """An endpoint that answers a :class:`Problem`, or any error, as JSON in one line."""
  async def endpoint(request):
    try:
      return await handler(request)
    except Problem as e:
      return JSONResponse({"error": str(e)}, status_code=e.status)
    except Exception as e:  # pylint: disable=broad-except  (one line; the server goes on)
      return JSONResponse({"error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"},
                          status_code=500)
  return endpoint


async def _json_body(request):
  try:
    body = await request.json()
  except ValueError:
    raise Problem("the request is not JSON") from None
  if not isinstance(body, dict):
    raise Problem("the request is not a JSON object")
  return body


class _Page:
  """The page's server side over one colorizer: the photos it keeps (the last MAX_PHOTOS), one
  computation at a time, and an endpoint for each thing the page asks."""

  def __init__(self, colorizer, k):
    self.colorizer, self.k = colorizer, k
    self.sessions = collections.OrderedDict()
    self.lock = threading.Lock()  # one model: one computation at a time
    self.warming = []  # the thread tracing with_hints' Jacobian, once started (steer.warm_up)

  def routes(self):
    g = _guarded
    return [Route("/", self.page), Route("/api/photo", g(self.upload), methods=["POST"]),
            Route("/api/example/{name}", g(self.example), methods=["POST"]),
            Route("/api/{sid}", g(self.show_state)),
            Route("/api/{sid}/more", g(self.more), methods=["POST"]),
            Route("/api/{sid}/hints", g(self.hints), methods=["POST"]),
            Route("/api/{sid}/reset", g(self.reset), methods=["POST"]),
            Route("/api/{sid}/grey.png", g(self.grey)),
            Route("/api/{sid}/output/{i}.png", g(self.output)),
            Route("/api/{sid}/download/{i}.png", g(self.download)),
            Route("/api/{sid}/blend.png", g(self.blend))]

  async def work(self, fn):
    """``fn()`` under the lock, in a worker thread: the server answers other requests meanwhile."""
    def locked():
      with self.lock:
        return fn()
    return await run_in_threadpool(locked)

  @staticmethod
  def state(session, message=""):
    base = f"/api/{session.id}"
    return JSONResponse({
        "id": session.id, "name": session.name, "mode": session.mode,
        "width": session.photo.size[1], "height": session.photo.size[0],
        "grey": f"{base}/grey.png", "hints": session.hints, "message": message,
        "outputs": [{"weight": float(w), "component": int(c),
                     "image": f"{base}/output/{i}.png?v={session.version}",
                     "download": f"{base}/download/{i}.png"}
                    for i, (w, c) in enumerate(zip(session.weights, session.components))]})

  def session_of(self, request):
    session = self.sessions.get(request.path_params["sid"])
    if session is None:
      raise Problem("this photo is no longer kept (the server keeps the last "
                    f"{MAX_PHOTOS}); upload it again", 404)
    return session

  @staticmethod
  def output_index(session, value):
    try:
      i = int(value)
    except (TypeError, ValueError):
      raise Problem(f"output {value!r}: not a number") from None
    if not 0 <= i < len(session.z):
      raise Problem(f"output {i}: there are {len(session.z)}")
    return i

  async def new_session(self, name, rgb):
    def make():
      try:
        photo = steer.prepare(self.colorizer, rgb)
      except ValueError as e:
        raise Problem(f"{name}: {e}", 413 if "megapixels" in str(e) else 400) from None
      return Session(name, photo, self.k)
    session = await self.work(make)
    session.id = secrets.token_hex(8)
    self.sessions[session.id] = session
    while len(self.sessions) > MAX_PHOTOS:
      self.sessions.popitem(last=False)
    if not self.warming:  # the hint's Jacobian traced while the first outputs are looked at
      self.warming.append(threading.Thread(target=self.warm_up, args=(session.preview,),
                                           daemon=True))
      self.warming[0].start()
    return self.state(session)

  def warm_up(self, photo):
    with self.lock:
      steer.warm_up(self.colorizer, photo)

  async def page(self, request):
    del request
    return HTMLResponse(PAGE.read_text(), headers={"Cache-Control": "no-store"})

  async def upload(self, request):
    name = os.path.basename(urllib.parse.unquote(request.headers.get("x-filename", ""))
                            or "upload")[:200]
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_UPLOAD_BYTES:
      raise Problem(f"{name}: {size >> 20} MB, over the upload limit of "
                    f"{MAX_UPLOAD_BYTES >> 20} MB", 413)
    chunks, total = [], 0
    async for chunk in request.stream():
      total += len(chunk)
      if total > MAX_UPLOAD_BYTES:
        raise Problem(f"{name}: over the upload limit of {MAX_UPLOAD_BYTES >> 20} MB", 413)
      chunks.append(chunk)
    blob = b"".join(chunks)
    rgb = await run_in_threadpool(decode_upload, blob, name, self.colorizer.max_megapixels)
    return await self.new_session(name, rgb)

  async def example(self, request):
    name = request.path_params["name"]
    if name not in EXAMPLES:
      raise Problem(f"no example {name!r} (examples: {', '.join(EXAMPLES)})", 404)
    import skimage.data  # pylint: disable=g-import-not-at-top
    return await self.new_session(name, getattr(skimage.data, name)()[..., :3])

  async def more(self, request):
    session, body = self.session_of(request), await _json_body(request)
    i = self.output_index(session, body.get("output"))
    try:
      spread, seed = float(body.get("spread", 1.0)), int(body.get("seed", 0))
    except (TypeError, ValueError):
      raise Problem("spread and seed must be numbers") from None

    def draw():
      try:
        return steer.sample_around(self.colorizer, session.preview, session.z[i], MORE, spread,
                                   seed)
      except ValueError as e:
        raise Problem(f"more like #{i + 1}: {e}") from None
    session.show(await self.work(draw), f"more like #{i + 1}")
    return self.state(session)

  async def hints(self, request):
    session, body = self.session_of(request), await _json_body(request)
    given = body.get("hints")
    if not isinstance(given, list) or len(given) > 64:
      raise Problem("hints: a list of at most 64 [x, y, '#rrggbb']")
    try:
      points = [(float(x), float(y), str(c)) for x, y, c in given]
    except (TypeError, ValueError):
      raise Problem("hints: a list of at most 64 [x, y, '#rrggbb']") from None

    def hinted():
      try:
        # the preview's join; hints are in the photo's own pixels, the codes are the same
        result = steer.with_hints(self.colorizer, session.preview, points, k=session.k)
      except ValueError as e:
        raise Problem(f"hints: {e}") from None
      session.hints = [list(p) for p in points]
      session.show(result, "hinted" if points else "top")
    await self.work(hinted)
    return self.state(session)

  async def reset(self, request):
    session = self.session_of(request)
    def top():
      session.hints = []
      session.show(session.preview.top_k(session.k), "top")
    await self.work(top)
    return self.state(session)

  async def show_state(self, request):
    return self.state(self.session_of(request))

  async def grey(self, request):
    return png(self.session_of(request).grey)

  async def output(self, request):
    session = self.session_of(request)
    return png(session.images[self.output_index(session, request.path_params["i"])])

  async def download(self, request):
    session = self.session_of(request)
    i = self.output_index(session, request.path_params["i"])
    rgb = await self.work(lambda: session.photo.result(
        session.z[i:i + 1], session.components[i:i + 1]).colorizations[0])
    stem = os.path.splitext(session.name)[0] or "photo"
    return png(rgb, f"{stem}_{session.mode.replace(' ', '_').replace('#', '')}_{i + 1}.png")

  async def blend(self, request):
    session, query = self.session_of(request), request.query_params
    a, b = self.output_index(session, query.get("a")), self.output_index(session, query.get("b"))
    try:
      t = float(query.get("t", "0.5"))
    except ValueError:
      raise Problem(f"t {query.get('t')!r}: not a number") from None
    if not 0 <= t <= 1:
      raise Problem(f"t {t}: must be in [0, 1]")
    result = await self.work(lambda: steer.blend(self.colorizer, session.preview, session.z[a],
                                                 session.z[b], t))
    return png(result.colorizations[0])


def serve(app, host="127.0.0.1", port=7860, ready=print):
  """Serves ``app`` until interrupted; ``ready(url)`` once it listens (port 0: a free one)."""
  import socket  # pylint: disable=g-import-not-at-top
  import uvicorn  # pylint: disable=g-import-not-at-top
  family = socket.AF_INET6 if ":" in host else socket.AF_INET
  sock = socket.socket(family, socket.SOCK_STREAM)
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  sock.bind((host, port))
  port = sock.getsockname()[1]
  server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
  shown = f"[{host}]" if ":" in host else host
  ready(f"http://{shown}:{port}/")
  server.run(sockets=[sock])

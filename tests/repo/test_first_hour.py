"""Issue 47, "the first hour": what a new user meets first. The Python API and the tools are quiet
(TensorFlow's start-up lines and absl's INFO logs only on request, a user's own settings kept);
Ctrl-C is one line; outputs in PNG, JPEG or WebP; the API saves outputs and a grid;
divcolor-figure without blank bands under landscape photos.

Each runs the bundled general model (saved_models/divcolor_imagenet) in a fresh process, as a
user would.
"""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image
import pytest

from conftest import console_script
from conftest import ROOT
from conftest import WITHOUT_TENSORFLOW

# What TensorFlow prints at start-up: its C++ log lines ("I0000 ... port.cc:153] ...", "E0000 ...
# cuda_platform.cc:52] failed call to cuInit ..."), the absl::InitializeLog and CPU-feature notes.
TF_LINE = re.compile(r"^[IWEF]\d{4} .*\.(cc|h):\d+\]|absl::InitializeLog|rebuild TensorFlow", re.M)


def _user_env(**settings):
  """A user's environment: none of the tests' or the project's logging settings, plus
  ``settings``."""
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL", "DIVCOLOR_VERBOSE", "DIVCOLOR_TRACEBACK")}
  env.update(settings)
  return env


def _python(code, tmp_path, **settings):
  return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                        text=True, env=_user_env(**settings), timeout=300)


_NOTEBOOK = """
import os, sys
import numpy as np
import divcolor_tf as dc
model = dc.load("imagenet"{options})
result = model.colorize(np.full((48, 64, 3), 120, np.uint8), k=2)
print("after load", file=sys.stderr)
print(result.colorizations.shape, os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
"""


def test_load_is_quiet_in_a_fresh_process(tmp_path):
  """dc.load() in a notebook printed ~14 of TensorFlow's lines, among them `E0000 ...
  cuda_platform.cc:52] failed call to cuInit`. Now none, and the process's stderr is its own
  again after the load (a line written then shows)."""
  done = _python(_NOTEBOOK.format(options=""), tmp_path)
  assert done.returncode == 0, done.stderr[-3000:]
  assert not TF_LINE.search(done.stderr), done.stderr[-3000:]
  assert done.stderr.splitlines() == ["after load"], done.stderr[-3000:]
  assert done.stdout.split() == ["(2,", "48,", "64,", "3)", "2"]


def test_load_keeps_a_users_own_logging_settings(tmp_path):
  """The user's TF_CPP_MIN_LOG_LEVEL=0 is theirs: TensorFlow's lines show and the variable is left
  as it was; verbose=True shows them too; with TensorFlow imported first, the variable (read at
  that import) is not set behind the user's back."""
  own = _python(_NOTEBOOK.format(options=""), tmp_path, TF_CPP_MIN_LOG_LEVEL="0")
  assert own.returncode == 0, own.stderr[-3000:]
  assert TF_LINE.search(own.stderr), own.stderr[-3000:]
  assert own.stdout.split()[-1] == "0"
  verbose = _python(_NOTEBOOK.format(options=", verbose=True"), tmp_path)
  assert verbose.returncode == 0 and TF_LINE.search(verbose.stderr), verbose.stderr[-3000:]
  assert verbose.stdout.split()[-1] == "None"
  first = _python("import tensorflow\n" + _NOTEBOOK.format(options=""), tmp_path)
  assert first.returncode == 0, first.stderr[-3000:]
  assert first.stdout.split()[-1] == "None"


def _photo(path, size=(96, 64)):
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
  return path


def test_a_successful_tool_run_prints_only_its_result(tmp_path):
  """Row 19: a successful divcolor-colorize printed absl INFO lines (here: a killed run's
  temporary removed) and `E0000 ... oneDNN supports DT_HALF only` (or DT_INT64) in a user's
  shell. Now stderr is empty; -v 1 shows the INFO line."""
  photo = _photo(tmp_path / "photo.png")
  out = tmp_path / "out"
  out.mkdir()
  stale = out / ".divcolor-tmp-4194303-0123abcd-photo_1.png"  # a killed run's (a dead pid)
  stale.write_bytes(b"partial")
  args = console_script("divcolor-colorize") + ["--input", str(photo), "--output", str(out),
                                                "--k", "2"]
  done = subprocess.run(args, capture_output=True, text=True, env=_user_env(), timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stderr == "", done.stderr[-3000:]
  assert done.stdout.startswith("divcolor-colorize: colorized 1 of 1 photo(s)")
  assert not stale.exists()
  stale.write_bytes(b"partial")
  loud = subprocess.run(args + ["--overwrite", "-v", "1"], capture_output=True, text=True,
                        env=_user_env(), timeout=300)
  assert loud.returncode == 0, loud.stderr[-3000:]
  assert "removed 1 temporary file(s) a killed run left" in loud.stderr, loud.stderr[-3000:]


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
  """Row 19: Ctrl-C (SIGINT) during a folder run printed a KeyboardInterrupt traceback. Now one
  line, exit status 130, and no temporary file left behind."""
  photos = tmp_path / "photos"
  photos.mkdir()
  for i in range(40):
    _photo(photos / f"p{i:02d}.png", (640, 480))
  out = tmp_path / "out"
  process = subprocess.Popen(
      console_script("divcolor-colorize") + ["--input", str(photos), "--output", str(out)],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_user_env(),
      # as from a terminal: a test runner's worker may ignore SIGINT, and a child inherits that
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  deadline = time.monotonic() + 240
  while not (out.exists() and any(p.suffix == ".png" for p in out.iterdir())):
    assert process.poll() is None and time.monotonic() < deadline, process.communicate()
    time.sleep(0.2)
  process.send_signal(signal.SIGINT)
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 130, (stdout, stderr[-3000:])
  lines = [line for line in stderr.splitlines() if not re.match(r"\s*\d+/40 photos \[", line)]
  assert lines == ["divcolor-colorize: interrupted"], stderr[-3000:]  # (progress lines aside)
  assert not [p for p in out.iterdir() if p.name.startswith(".divcolor-tmp-")]


# --- Outputs as PNG, JPEG or WebP (--format, --quality), from the command line and the API ---


@pytest.fixture(scope="module")
def general():
  """The bundled general model, loaded in this process."""
  import divcolor_tf as dc  # pylint: disable=g-import-not-at-top
  return dc.load("imagenet")


@pytest.fixture(scope="module")
def rocket(tmp_path_factory):
  """scikit-image's rocket (640x427, landscape, a real photo) as a JPEG file."""
  from skimage import data as skdata  # pylint: disable=g-import-not-at-top
  path = tmp_path_factory.mktemp("rocket") / "rocket.jpg"
  Image.fromarray(skdata.rocket()).save(path, quality=95)
  return path


def test_format_jpg_writes_jpegs_a_fraction_of_the_pngs(tmp_path, rocket, general):
  """Outputs were PNG only (a 12-megapixel run wrote ~50 MB). --format jpg writes .jpg files
  that are JPEGs at --quality, the same colorizations within JPEG's error, in a quarter of the
  bytes of the PNG run; the grid stays a PNG."""
  from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top
  args = console_script("divcolor-colorize") + [
      "--input", str(rocket), "--output", str(tmp_path / "jpg"), "--k", "3", "--grid",
      "--format", "jpg", "--quality", "90"]
  done = subprocess.run(args, capture_output=True, text=True, env=_user_env(), timeout=300)
  assert done.returncode == 0 and done.stderr == "", done.stderr[-3000:]
  names = sorted(p.name for p in (tmp_path / "jpg").iterdir())
  assert names == ["rocket_1.jpg", "rocket_2.jpg", "rocket_3.jpg", "rocket_grid.png"]
  summary = outputs.colorize_photos(general, [str(rocket)], str(tmp_path / "png"), k=3)
  assert summary.done == 1
  for i in (1, 2, 3):
    jpg, png = tmp_path / "jpg" / f"rocket_{i}.jpg", tmp_path / "png" / f"rocket_{i}.png"
    with Image.open(jpg) as image:
      assert image.format == "JPEG" and image.size == (640, 427) and image.mode == "RGB"
      decoded = np.asarray(image, np.float32)
    assert np.abs(decoded - np.asarray(Image.open(png), np.float32)).mean() < 3
    assert jpg.stat().st_size < 0.5 * png.stat().st_size, (jpg.stat(), png.stat())


def test_skip_existing_and_overwrite_know_the_format(tmp_path, rocket, general):
  """A set of .jpg (or .webp) files is recognised as this run's: all there, skipped; complete,
  skipped by --skip_existing; one of the wrong size, redone; a user's own JPEG under an output's name is
  never replaced. A PNG set beside it is another format's, left alone."""
  from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top
  out = tmp_path / "out"
  run = lambda **options: outputs.colorize_photos(general, [str(rocket)], str(out), k=2,
                                                  on_error=errors.append, **options)
  errors = []
  assert run(format="png").done == 1
  for image_format in ("jpg", "webp"):
    first = run(format=image_format, quality=80)
    assert first.done == 1, errors
    files = [out / f"rocket_{i}.{image_format}" for i in (1, 2)]
    assert all(outputs.ours(str(f)) for f in files)
    assert run(format=image_format).existing == 1
    assert run(format=image_format, skip_existing=True).skipped == 1
    outputs.save_image(str(files[1]), np.zeros((10, 10, 3), np.uint8), image_format)  # wrong size
    assert outputs.set_problems(outputs.plan([str(rocket)], None, str(out), 2,
                                             format=image_format)[0], 427, 640)
    assert run(format=image_format, skip_existing=True).done == 1
    assert not outputs.set_problems(outputs.plan([str(rocket)], None, str(out), 2,
                                                 format=image_format)[0], 427, 640)
  assert errors == []
  mine = out / "rocket_1.jpg"
  Image.fromarray(np.zeros((427, 640, 3), np.uint8)).save(mine)  # the user's own JPEG
  before = mine.read_bytes()
  assert run(format="jpg", overwrite=True).failed == [str(rocket)]
  assert mine.read_bytes() == before and "was not written by divcolor_tf" in errors[-1]
  with pytest.raises(ValueError, match="format 'gif': must be one of png, jpg, webp"):
    run(format="gif")


def test_bad_format_or_quality_is_one_line_before_tensorflow(tmp_path, rocket):
  """--format gif, --quality out of [1, 100], and --quality with a PNG (it would be ignored):
  one line each, exit 1, answered with TensorFlow unimportable (so before it loads)."""
  good = ["--input", str(rocket), "--output", str(tmp_path / "out")]
  cases = [(["--format", "gif"], "--format=gif: value should be one of <png|jpg|webp>"),
           (["--format", "jpg", "--quality", "0"], "--quality must be in [1, 100], got 0"),
           (["--quality", "80"], "--quality 80 is for --format jpg or webp")]
  for args, says in cases:
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *good, *args],
                          capture_output=True, text=True, env=_user_env(), timeout=120)
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and len(lines) == 1, (args, done.stderr[-2000:])
    assert lines[0].startswith("divcolor-colorize: ") and says in lines[0], (args, lines)
  assert not (tmp_path / "out").exists()


def test_a_result_saves_its_outputs_and_grid(tmp_path, rocket, general):
  """The API had no helper to save outputs or a grid. result.save writes what divcolor-colorize
  writes (the same files, names and marker), in any format; refuses to replace a file without
  overwrite=True, and a user's file even with it; result.grid is the grid as an image."""
  import divcolor_tf as dc  # pylint: disable=g-import-not-at-top
  from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top
  rgb = dc.read_photo(rocket)
  assert rgb.dtype == np.uint8 and rgb.shape == (427, 640, 3)
  result = general.colorize(rgb, k=3)
  paths = result.save(tmp_path / "api" / "rocket", photo=rgb)
  names = ["rocket_1.png", "rocket_2.png", "rocket_3.png", "rocket_grid.png"]
  assert [os.path.basename(p) for p in paths] == names
  outputs.colorize_photos(general, [str(rocket)], str(tmp_path / "cli"), k=3, grid=True)
  for name in names[:3]:  # the same pixels as the command line's
    assert np.array_equal(np.asarray(Image.open(tmp_path / "api" / name)),
                          np.asarray(Image.open(tmp_path / "cli" / name)))
  assert not outputs.set_problems(outputs.plan([str(rocket)], None, str(tmp_path / "api"), 3,
                                               grid=True)[0], 427, 640)
  shown = result.grid(rgb)
  assert shown.shape == np.asarray(Image.open(paths[-1]).convert("RGB")).shape
  with pytest.raises(FileExistsError, match=r"rocket_1.png: exists; pass overwrite=True"):
    result.save(str(tmp_path / "api" / "rocket"))
  assert len(result.save(str(tmp_path / "api" / "rocket"), overwrite=True)) == 3
  webp = result.save(tmp_path / "api", format="webp", quality=80)  # a folder
  assert [os.path.basename(p) for p in webp] == [f"colorization_{i}.webp" for i in (1, 2, 3)]
  assert all(Image.open(p).format == "WEBP" for p in webp)
  (tmp_path / "api" / "notes_1.png").write_text("mine")
  with pytest.raises(ValueError, match="notes_1.png: exists and was not written by divcolor_tf"):
    result.save(tmp_path / "api" / "notes", overwrite=True)
  assert (tmp_path / "api" / "notes_1.png").read_text() == "mine"


def _readme_snippet():
  """README.md's first Python block that colorizes (``model.colorize(``)."""
  blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
  return next(block for block in blocks if "model.colorize(" in block)


def test_colorize_takes_a_path_or_a_pil_image_and_names_what_it_cannot_take(rocket, general):
  """Row 21: a PIL image failed with "object is not iterable", and a scalar or a vector named
  neither the input nor the problem. Now a path and a PIL image (any mode) are photos, and the
  rest is one line saying what colorize takes."""
  from_array = general.colorize(np.asarray(Image.open(rocket)), k=2)
  from_path = general.colorize(str(rocket), k=2)
  from_image = general.colorize(Image.open(rocket).convert("P"), k=2)  # a palette image
  assert np.array_equal(from_path.colorizations, from_array.colorizations)
  assert from_image.colorizations.shape == from_array.colorizations.shape == (2, 427, 640, 3)
  both = general.colorize([rocket, Image.open(rocket)], k=2)
  assert [r.colorizations.shape for r in both] == [(2, 427, 640, 3)] * 2
  for bad, named in ((np.zeros(10), "shape (10,)"), (7, "got int"), (None, "got NoneType"),
                     (np.float32(3), "got float32")):
    with pytest.raises(ValueError) as refused:
      general.colorize(bad, k=2)
    message = str(refused.value)
    assert message.startswith("colorize: expected a photo") and named in message, message
    assert "\n" not in message
  with pytest.raises(ValueError, match="no such file"):
    general.colorize(str(rocket) + ".missing", k=2)
  # Rank 2 is a grey photo [H, W] (as the message says): colorized; one with no pixels is one line.
  grey = general.colorize(np.asarray(Image.open(rocket).convert("L")), k=2)
  assert grey.colorizations.shape == (2, 427, 640, 3)
  with pytest.raises(ValueError) as refused:
    general.colorize(np.zeros((427, 0), np.uint8), k=2)
  assert str(refused.value) == "image 0: empty image (427, 0, 3)", str(refused.value)


def test_the_readmes_python_snippet_runs_as_written(tmp_path, rocket):
  """The README's snippet used `rgb_uint8` without saying where it comes from. It runs as
  written on a photo.jpg, and writes the files it says."""
  snippet = _readme_snippet()
  (tmp_path / "photo.jpg").write_bytes(rocket.read_bytes())
  done = _python(snippet, tmp_path)
  assert done.returncode == 0 and done.stderr == "", done.stderr[-3000:]
  written = sorted(p.name for p in (tmp_path / "colorized").iterdir())
  assert written == [f"photo_{i}.png" for i in range(1, 6)] + ["photo_grid.png"]


# --- divcolor-figure's rows fit their photos ---


def _longest_background_run(lines):
  """The longest run of consecutive pixel lines (rows of ``lines``) that are all background."""
  from divcolor_tf.evaluation import figures  # pylint: disable=g-import-not-at-top
  longest = run = 0
  for blank in (lines == np.asarray(figures.BACKGROUND)).all(axis=(1, 2)):
    run = run + 1 if blank else 0
    longest = max(longest, run)
  return longest


def test_figure_has_no_blank_band_under_landscape_photos(tmp_path, rocket, general):
  """divcolor-figure fitted every photo into a square cell: under (and over) each row of
  landscape photos a band of ~35 background pixel rows (of a 160-pixel cell). Now a row is as tall
  as its photos: between rows, only the caption's margins and the gap (at most 10 rows); and a
  figure of portrait photos has no blank columns between its images either."""
  from skimage import data as skdata  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import figures  # pylint: disable=g-import-not-at-top
  chelsea = tmp_path / "chelsea.png"  # 451x300, landscape
  Image.fromarray(skdata.chelsea()).save(chelsea)
  rows = figures.colorized_rows(general, [str(rocket), str(chelsea)], 3)
  image = figures.figure(rows, 3, cell=160)
  assert _longest_background_run(image) <= 10, _longest_background_run(image)
  assert image.shape[0] < figures.HEADER + 2 * (120 + figures.CAPTION + figures.GAP) + 20
  portrait = [(np.ascontiguousarray(np.swapaxes(photo, 0, 1)), result._replace(
      colorizations=np.swapaxes(np.asarray(result.colorizations), 1, 2))) for photo, result in rows]
  image = figures.figure(portrait, 3, cell=160)
  assert _longest_background_run(np.swapaxes(image, 0, 1)) <= 2 * figures.GAP
  compared = figures.figure([(photo, [result, result]) for photo, result in rows], 2, cell=160,
                            methods=["a", "b"])
  assert _longest_background_run(compared[figures.HEADER:]) <= 10

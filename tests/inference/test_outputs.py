"""Nothing lost, nothing corrupt: atomic files (divcolor_tf.io.atomic) and divcolor-colorize's sets
(divcolor_tf.inference.outputs): resuming with --skip_existing, names that differ only by extension, a
SIGKILLed run, and two runs racing into one folder.

The models are the tiny untrained ones of test_colorize (tests/tiny_models.py); the photos are
real LFW faces.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import console_script
from conftest import finish_tool
from conftest import start_tool
from conftest import tool_env
import tiny_models
from divcolor_tf.io import atomic
from divcolor_tf import colorize
from divcolor_tf import data
from divcolor_tf.inference import outputs

PROG = "divcolor-colorize"


@pytest.fixture(scope="module")
def tiny_config(repo_root, lfw_ci):
  return tiny_models.tiny_config(repo_root, lfw_ci)


@pytest.fixture(scope="module")
def models(tiny_config):
  return tiny_models.build(tiny_config)


@pytest.fixture(scope="module")
def colorizer(models, tiny_config):
  return colorize.Colorizer(*models, tiny_config)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, models, tiny_config, lfw_ci):
  return tiny_models.write_model_dir(tmp_path_factory.mktemp("model"), models, tiny_config,
                                     lfw_ci)


@pytest.fixture(scope="module")
def faces(lfw_ci):
  """Real LFW faces (250x250 JPEGs), one per identity."""
  return [sorted(folder.glob("*.jpg"))[0] for folder in sorted(lfw_ci.iterdir())
          if folder.is_dir() and list(folder.glob("*.jpg"))]


def _photo_folder(path, faces, count):
  path.mkdir()
  for i, face in enumerate(faces[:count]):
    shutil.copy(face, path / f"p{i:02d}.jpg")
  return path


def _visible(folder):
  return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _temps(folder):
  return sorted(p for p in folder.rglob(f"{atomic.TEMP_PREFIX}*"))


def _snapshot(folder):
  return {p.name: p.read_bytes() for p in _visible(folder)}


def _errors(stderr):
  return [line for line in stderr.splitlines() if line.startswith(f"{PROG}:")]


# divcolor_tf.io.atomic.

def test_an_atomic_write_that_raises_midway_leaves_no_partial_file(tmp_path):
  final = tmp_path / "report.json"

  def half_then_fail(temp):
    with open(temp, "wb") as f:
      f.write(b'{"half": ')
    raise RuntimeError("writer died")

  with pytest.raises(RuntimeError, match="writer died"):
    atomic.write_with(half_then_fail, final)
  assert not os.listdir(tmp_path)  # neither the final name nor the temporary one
  atomic.write_json(final, {"rows": [1, 2]}, indent=2)
  before = final.read_bytes()
  with pytest.raises(RuntimeError, match="writer died"):
    atomic.write_with(half_then_fail, final)
  assert final.read_bytes() == before and os.listdir(tmp_path) == ["report.json"]
  # A temporary name keeps the final name's suffix (Keras insists on .keras / .weights.h5), in
  # the final name's folder.
  with atomic.atomic_path(tmp_path / "m.weights.h5") as temp:
    assert temp.endswith("m.weights.h5") and os.path.dirname(temp) == str(tmp_path)
    assert os.path.basename(temp).startswith(atomic.TEMP_PREFIX)
    with open(temp, "wb") as f:
      f.write(b"weights")
  assert (tmp_path / "m.weights.h5").read_bytes() == b"weights"
  assert sorted(os.listdir(tmp_path)) == ["m.weights.h5", "report.json"]


def _dead_pid():
  """The id of a process that has ended (and was waited for): nobody's, for now."""
  gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  return int(gone.stdout)


def test_the_stale_temporary_sweep_removes_only_what_this_project_made(tmp_path):
  """issue 47, row 4: a user's .tmp-99999-my-backup/notes.txt and .tmp-424242-draft.txt were
  deleted (any .tmp-<dead pid>-*, folders too). Only this project's temporaries of a dead writer
  go: its distinctive name, and for a folder the marker inside; earlier versions' .tmp- ones
  stay."""
  dead = _dead_pid()
  users = [tmp_path / ".tmp-99999-my-backup" / "notes.txt", tmp_path / ".tmp-424242-draft.txt",
           tmp_path / f".tmp-{dead}-my-backup" / "notes.txt", tmp_path / f".tmp-{dead}-draft.txt",
           # an earlier version's temporaries: left alone, whoever made them
           tmp_path / f".tmp-{dead}-0a1b2c3d-p00_1.png",
           # our name without our marker inside: not known to be ours
           tmp_path / f"{atomic.TEMP_PREFIX}{dead}-0a1b2c3d-export" / "notes.txt"]
  ours_file = tmp_path / f"{atomic.TEMP_PREFIX}{dead}-0a1b2c3d-p00_1.png"
  ours_dir = tmp_path / f"{atomic.TEMP_PREFIX}{dead}-deadbeef-1"
  mine = atomic.temp_path(tmp_path / "p00_2.png")  # this process's: running
  for path in users + [ours_file, ours_dir / "saved_model.pb", pathlib.Path(mine)]:
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"partial")
  atomic.mark_temp_dir(ours_dir)
  removed = atomic.remove_stale_temps(tmp_path)
  assert sorted(removed) == sorted([ours_file.name, ours_dir.name])
  assert all(p.read_bytes() == b"partial" for p in users) and os.path.exists(mine)
  assert not ours_file.exists() and not ours_dir.exists()


def test_a_240_character_name_is_written_and_one_too_long_is_named_not_its_temporary(
    colorizer, faces, tmp_path):
  """issue 47, row 18: a photo with a 240-character name failed, the message naming the hidden
  temporary (.divcolor-tmp-<pid>-<hex>-<name> passed NAME_MAX, 255). Its temporary now carries
  the end of the name (the suffix writers check), so the outputs are written; a name too long
  for the file system itself is one line naming it; the sweep knows the shortened temporaries."""
  photos = tmp_path / "in"
  photos.mkdir()
  shutil.copy(faces[0], photos / ("a" * 240 + ".jpg"))
  out = tmp_path / "out"
  errors = []
  summary = outputs.colorize_photos(colorizer, data.list_images(str(photos)), str(out),
                                    input_root=str(photos), k=2, on_error=errors.append)
  assert summary.done == 1 and not errors, errors
  assert sorted(p.name for p in out.iterdir()) == ["a" * 240 + f"_{i}.png" for i in (1, 2)]
  temp = os.path.basename(atomic.temp_path(out / ("é" * 200 + ".weights.h5")))
  assert len(os.fsencode(temp)) <= 255 and temp.endswith("é.weights.h5")

  final = tmp_path / ("b" * 300 + ".png")
  with pytest.raises(OSError) as raised:
    atomic.write_bytes(final, b"png")
  message = str(raised.value)
  assert raised.value.filename == str(final) and "File name too long" in message, message
  assert atomic.TEMP_PREFIX not in message and "\n" not in message
  assert not _temps(tmp_path)  # nothing left behind

  # A writer of a 254-character name killed midway: its shortened temporary is swept.
  killed = subprocess.run(
      [sys.executable, "-c", _LEAVE_A_TEMPORARY, str(out / ("c" * 250 + ".png"))],
      capture_output=True, text=True, check=True)
  stale = killed.stdout.strip()
  assert stale.startswith(atomic.TEMP_PREFIX) and (out / stale).exists()
  assert atomic.remove_stale_temps(out) == [stale] and not (out / stale).exists()


_LEAVE_A_TEMPORARY = """
import os, sys
from divcolor_tf.io import atomic
temp = atomic.temp_path(sys.argv[1])
with open(temp, "wb") as f:
  f.write(b"partial")
print(os.path.basename(temp))
os._exit(0)
"""


def test_a_racing_exclusive_create_gets_file_exists(tmp_path):
  final = tmp_path / "p_1.png"
  first_writer = atomic.atomic_path(final, exclusive=True)
  second_writer = atomic.atomic_path(final, exclusive=True)
  for temp, payload in ((first_writer.__enter__(), b"first"),
                        (second_writer.__enter__(), b"second")):
    with open(temp, "wb") as f:
      f.write(payload)
  first_writer.__exit__(None, None, None)  # the first to finish creates the file ...
  with pytest.raises(FileExistsError) as error:
    second_writer.__exit__(None, None, None)  # ... the second is refused, and cleans up
  assert str(error.value) == f"{final}: exists" and error.value.filename == str(final)
  assert final.read_bytes() == b"first"
  assert os.listdir(tmp_path) == ["p_1.png"]

  # Eight processes racing for one name: exactly one wins, its bytes whole, the others refused.
  race = tmp_path / "race"
  race.mkdir()
  go = race / "go"
  script = ("import os, sys, time\nfrom divcolor_tf.io import atomic\n"
            "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
            "try:\n  atomic.write_bytes(sys.argv[2], sys.argv[3].encode() * 200000, "
            "exclusive=True)\n  print('won')\n"
            "except FileExistsError as e:\n  print('lost', e)\n")
  racers = [subprocess.Popen([sys.executable, "-c", script, str(go), str(race / "out.bin"),
                              f"writer{i}|"], stdout=subprocess.PIPE, text=True)
            for i in range(8)]
  time.sleep(1.0)
  go.write_text("")
  results = [p.communicate(timeout=60)[0].strip() for p in racers]
  assert all(p.returncode == 0 for p in racers), results
  winners = [i for i, r in enumerate(results) if r == "won"]
  assert len(winners) == 1, results
  assert all(r == f"lost {race / 'out.bin'}: exists" for r in results if r != "won")
  assert (race / "out.bin").read_bytes() == f"writer{winners[0]}|".encode() * 200000
  assert sorted(os.listdir(race)) == ["go", "out.bin"]


def test_exclusive_create_without_hard_links_is_still_exclusive(tmp_path, monkeypatch):
  def no_hard_links(src, dst):  # FAT, some network and FUSE mounts refuse os.link
    raise PermissionError(1, "Operation not permitted", src)

  monkeypatch.setattr(os, "link", no_hard_links)
  final = tmp_path / "stats.npz"
  atomic.write_bytes(final, b"one", exclusive=True)
  with pytest.raises(FileExistsError, match="stats.npz: exists"):
    atomic.write_bytes(final, b"two", exclusive=True)
  assert final.read_bytes() == b"one" and os.listdir(tmp_path) == ["stats.npz"]


def test_publish_dir_is_exclusive_unless_overwrite(tmp_path):
  def folder(name, text):
    path = tmp_path / name
    path.mkdir()
    (path / "saved_model.pb").write_text(text)
    return path

  atomic.publish_dir(folder(".partial-a", "a"), tmp_path / "1")
  with pytest.raises(FileExistsError, match="1: exists"):
    atomic.publish_dir(folder(".partial-b", "b"), tmp_path / "1")
  assert (tmp_path / "1" / "saved_model.pb").read_text() == "a"
  atomic.publish_dir(tmp_path / ".partial-b", tmp_path / "1", overwrite=True)
  assert (tmp_path / "1" / "saved_model.pb").read_text() == "b"
  assert sorted(os.listdir(tmp_path)) == ["1"]  # the old version removed, nothing aside


# divcolor_tf.inference.outputs: resuming, names.

def test_skip_existing_skips_complete_sets_and_redoes_broken_ones(colorizer, faces, tmp_path):
  photos = _photo_folder(tmp_path / "in", faces, 4)
  out = tmp_path / "out"
  errors = []

  def run(**flags):
    return outputs.colorize_photos(colorizer, data.list_images(str(photos)), str(out),
                                   input_root=str(photos), k=3, grid=True,
                                   on_error=errors.append, **flags)

  first = run()
  assert (first.done, first.skipped, first.failed, errors) == (4, 0, [], [])
  written = _snapshot(out)
  assert len(written) == 4 * 4
  for photo_set in outputs.plan(data.list_images(str(photos)), str(photos), str(out), 3, True):
    assert outputs.set_problems(photo_set, 250, 250) == []
  inodes = {p.name: p.stat().st_ino for p in _visible(out)}

  (out / "p00_3.png").write_bytes(b"")  # a kill used to leave this
  (out / "p01_grid.png").unlink()  # ... and this: colorizations, no grid
  (out / "p02_2.png").write_bytes(written["p02_2.png"][:len(written["p02_2.png"]) // 2])
  problems = outputs.set_problems(outputs.plan([str(photos / "p02.jpg")], None, str(out), 3,
                                               True)[0], 250, 250)
  assert len(problems) == 1 and "p02_2.png" in problems[0][0], problems
  assert "does not decode" in problems[0][1]

  # Without --skip_existing nothing is touched: sets whose files are all there count as done
  # (unchecked, the truncated p02_2 included); p01's, missing its grid, is an error.
  again = run()
  assert (again.done, again.skipped, again.existing) == (0, 3, 3)
  assert again.failed == [str(photos / "p01.jpg")] and len(errors) == 1
  assert "p01.jpg: 3 of its 4 output files" in errors[0] and "--skip_existing completes" in errors[0]
  assert _snapshot(out)["p02_2.png"] == written["p02_2.png"][:len(written["p02_2.png"]) // 2]
  errors.clear()
  resumed = run(skip_existing=True)
  assert (resumed.done, resumed.skipped, resumed.failed, errors) == (3, 1, [], [])
  assert _snapshot(out) == written  # top-k is deterministic: the redone files are the same bytes
  after = {p.name: p.stat().st_ino for p in _visible(out)}
  assert all(after[n] == inodes[n] for n in inodes if n.startswith("p03_"))  # skipped: untouched
  assert all(after[n] != inodes[n] for n in inodes if n.startswith("p00_"))  # redone: whole set
  assert not _temps(out)
  assert run(skip_existing=True)[1:3] == (0, 4)


def test_names_differing_only_by_extension_get_distinct_outputs(colorizer, faces, tmp_path):
  photos = tmp_path / "in"
  photos.mkdir()
  shutil.copy(faces[0], photos / "face.jpg")
  Image.open(faces[1]).save(photos / "face.png")
  shutil.copy(faces[2], photos / "other.jpg")
  expected = {"face_jpg": faces[0], "face_png": photos / "face.png", "other": faces[2]}
  for overwrite in (False, True):
    out = tmp_path / f"out_{overwrite}"
    out.mkdir()
    (out / "face_1.png").write_bytes(b"an older run's output, when only face.jpg was there")
    errors = []
    summary = outputs.colorize_photos(colorizer, data.list_images(str(photos)), str(out),
                                      input_root=str(photos), k=2, overwrite=overwrite,
                                      on_error=errors.append)
    assert (summary.done, errors) == (3, []), overwrite
    names = sorted(p.name for p in _visible(out))
    assert names == ["face_1.png", "face_jpg_1.png", "face_jpg_2.png", "face_png_1.png",
                     "face_png_2.png", "other_1.png", "other_2.png"], overwrite
    assert (out / "face_1.png").read_bytes().startswith(b"an older run's")  # never replaced
    for stem, photo in expected.items():
      mine = colorizer.colorize(data.load_rgb(photo), k=2).colorizations
      for i in (1, 2):
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"{stem}_{i}.png")), mine[i - 1])

  # What the extension cannot separate stops the run before anything is written.
  (photos / "face.JPG").write_bytes((photos / "face.jpg").read_bytes())
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  shutil.copy(faces[3], elsewhere / "other.jpg")
  for paths, clash in ((data.list_images(str(photos)), "face.JPG"),
                       ([str(photos / "other.jpg"), str(elsewhere / "other.jpg")], "other")):
    out = tmp_path / "refused"
    with pytest.raises(ValueError, match="would both write") as error:
      outputs.colorize_photos(colorizer, paths, str(out), input_root=str(photos), k=2,
                              overwrite=True)
    assert clash in str(error.value) and len(str(error.value).splitlines()) == 1
    assert not out.exists()


# The command line: a SIGKILL, and two runs racing.

def _complete_sets(out, stems, size=(250, 250), k=3, grid=True):
  sets = [outputs.PhotoSet("", 0, str(out / stem),
                           tuple(str(out / f"{stem}_{i}.png") for i in range(1, k + 1)),
                           str(out / f"{stem}_grid.png") if grid else None) for stem in stems]
  return [s for s in sets if not outputs.set_problems(s, *size)]


def _snapshot_set(photo_set):
  return {name: open(name, "rb").read() for name in photo_set.all_files}


def test_a_killed_folder_run_leaves_complete_files_and_skip_existing_finishes_it(
    model_dir, faces, tmp_path):
  photos = _photo_folder(tmp_path / "in", faces, 6)
  stems = [f"p{i:02d}" for i in range(6)]
  out = tmp_path / "out"
  cli = console_script(PROG) + ["--model", str(model_dir), "--input", str(photos), "--output",
                                str(out), "--k", "3", "--grid"]
  process = start_tool(cli)
  deadline = time.time() + 240
  while not (out.exists() and _visible(out)) and process.poll() is None:
    assert time.time() < deadline, "no output appeared"
    time.sleep(0.005)
  process.kill()  # SIGKILL, the moment the first photo's first file appears
  process.communicate()
  assert process.returncode == -9

  # Every file under a final name is a whole PNG of the right size; the set being installed when
  # the kill came may lack files, never hold a broken one.
  for path in _visible(out):
    stem, index = path.stem.rsplit("_", 1)
    assert stem in stems and index in ("1", "2", "3", "grid"), path
    if index == "grid":
      with Image.open(path) as image:
        image.load()
    else:
      assert outputs.image_problem(str(path), (250, 250), mode="RGB") is None, path
  complete = {os.path.basename(s.stem): _snapshot_set(s) for s in _complete_sets(out, stems)}
  assert len(complete) < 6

  resumed = subprocess.run(cli + ["--skip_existing"], capture_output=True, text=True,
                           env=tool_env(), timeout=300)
  assert resumed.returncode == 0, resumed.stderr
  assert (f"colorized {6 - len(complete)} of 6 photo(s)" in resumed.stdout
          and (f"; {len(complete)} skipped (already complete)" in resumed.stdout) == bool(complete)), \
      resumed.stdout
  assert len(_complete_sets(out, stems)) == 6
  assert len(_visible(out)) == 6 * 4
  for stem, files in complete.items():  # skipped sets are left exactly as they were
    assert all(open(name, "rb").read() == content for name, content in files.items()), stem


def test_two_runs_with_different_seeds_into_one_folder_never_mix(model_dir, faces, tmp_path):
  photos = _photo_folder(tmp_path / "in", faces, 5)
  stems = [f"p{i:02d}" for i in range(5)]
  shared = tmp_path / "shared"

  def cli(seed, out):
    return console_script(PROG) + ["--model", str(model_dir), "--input", str(photos), "--output",
                                   str(out), "--samples", "3", "--seed", str(seed), "--grid"]

  racers = {seed: start_tool(cli(seed, shared)) for seed in (1, 2)}
  alone = {seed: start_tool(cli(seed, tmp_path / f"alone_{seed}")) for seed in (1, 2)}
  racers = {seed: finish_tool(p) for seed, p in racers.items()}
  alone = {seed: finish_tool(p) for seed, p in alone.items()}
  for seed, result in alone.items():
    assert result.returncode == 0, result.stderr
  own = {seed: _snapshot(tmp_path / f"alone_{seed}") for seed in (1, 2)}
  assert own[1]["p00_1.png"] != own[2]["p00_1.png"]  # the seeds do give different files

  assert len(_complete_sets(shared, stems)) == 5
  assert sorted(p.name for p in _visible(shared)) == sorted(own[1])
  assert not _temps(shared)
  done = 0
  for stem in stems:
    names = [f"{stem}_{i}.png" for i in (1, 2, 3)] + [f"{stem}_grid.png"]
    files = {name: (shared / name).read_bytes() for name in names}
    owners = [seed for seed in (1, 2) if all(own[seed][n] == files[n] for n in names)]
    assert len(owners) == 1, f"{stem}: its files are not one run's own set"
    done += 1
  # The run that lost a photo counts it as done by the other: skipped, not failed.
  skipped = 0
  for seed, result in racers.items():
    assert not _errors(result.stderr), result.stderr
    assert result.returncode == 0, result.stderr
    colorized = int(re.search(r"colorized (\d+) of 5", result.stdout).group(1))
    lost = re.search(r"; (\d+) skipped \(outputs exist", result.stdout)
    assert colorized + (int(lost.group(1)) if lost else 0) == 5, result.stdout
    skipped += int(lost.group(1)) if lost else 0
  assert skipped == done == 5


def test_an_output_that_is_a_file_is_one_line_before_any_photo(colorizer, faces, tmp_path):
  """issue 29, row 4: --output naming an existing file (or a path through one) used to colorize
  every photo and end "0 of 30 ...; 30 failed" with no reason. Now: one ValueError naming it,
  nothing colorized, the file untouched."""
  photos = _photo_folder(tmp_path / "in", faces, 2)
  taken = tmp_path / "notes.txt"
  taken.write_text("mine")
  for output, says in ((taken, "the output is not a folder"),
                       (taken / "sub", f"({taken} is a file)")):
    with pytest.raises(ValueError, match="not a folder") as raised:
      outputs.colorize_photos(colorizer, data.list_images(str(photos)), str(output),
                              input_root=str(photos), k=2)
    assert str(raised.value).startswith(f"{output}: ") and says in str(raised.value)
  assert taken.read_text() == "mine"


def test_a_file_the_project_did_not_write_is_never_replaced(colorizer, faces, tmp_path):
  """issue 29, row 1: --skip_existing and --overwrite replaced a user's own file named like an
  output (a text file, a PNG of another size) and, in an in-place run, an input photo named
  ``face_1.png``. Now such a photo fails with one line naming the file, which stays as it was;
  the rest of the run goes on, and the project's own files are still replaced."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  photos = _photo_folder(tmp_path / "in", faces, 3)
  out = tmp_path / "out"
  out.mkdir()
  (out / "p00_1.png").write_text("my notes")
  Image.new("RGB", (7, 5), (200, 10, 10)).save(out / "p01_2.png")  # a PNG of another size
  (out / "p02_1.png").mkdir()  # not even a file
  mine = {p: p.read_bytes() for p in (out / "p00_1.png", out / "p01_2.png")}
  for flags in ({"skip_existing": True}, {"overwrite": True}):
    errors = []
    summary = outputs.colorize_photos(colorizer, data.list_images(str(photos)), str(out),
                                      input_root=str(photos), k=2, on_error=errors.append, **flags)
    assert summary.done == 0 and len(summary.failed) == 3, (flags, summary, errors)
    assert len(errors) == 3 and all("was not written by divcolor_tf; not replaced" in e
                                    for e in errors), errors
    assert {p: p.read_bytes() for p in mine} == mine and (out / "p02_1.png").is_dir()
  # Its own files it replaces: a run into a fresh folder, then --overwrite of it.
  fresh = tmp_path / "fresh"
  for flags in ({}, {"overwrite": True}):
    summary = outputs.colorize_photos(colorizer, data.list_images(str(photos)), str(fresh),
                                      input_root=str(photos), k=2, **flags)
    assert summary.done == 3, (flags, summary)
  assert all(outputs.ours(str(p)) for p in fresh.iterdir())

  # In place: the output folder is the input folder, and one input photo is named like an output.
  inplace = _photo_folder(tmp_path / "inplace", faces, 2)
  shutil.copy(inplace / "p00.jpg", inplace / "p01_1.png")  # a photo of the user's
  photo = (inplace / "p01_1.png").read_bytes()
  errors = []
  summary = outputs.colorize_photos(colorizer, [str(inplace / "p01.jpg")], str(inplace),
                                    input_root=str(inplace), k=2, on_error=errors.append,
                                    overwrite=True)
  assert summary.failed == [str(inplace / "p01.jpg")] and "p01_1.png" in errors[0], errors
  assert (inplace / "p01_1.png").read_bytes() == photo


def test_a_killed_runs_temporary_files_are_removed_by_the_next_run(colorizer, faces, tmp_path):
  """issue 29, row 13: temporary files of a writer that no longer runs are removed by the next run
  in that folder; a running writer's are left alone; the user's own dot-files too."""
  photos = _photo_folder(tmp_path / "in", faces, 1)
  out = tmp_path / "out"
  out.mkdir()
  dead = _dead_pid()
  live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    ours = atomic.TEMP_PREFIX
    stale = [out / f"{ours}{dead}-0a1b2c3d-p00_1.png",
             out / f"{ours}{dead}-deadbeef-other_grid.png"]
    kept = [out / f"{ours}{live.pid}-0a1b2c3d-p00_2.png", out / ".tmp-notes",
            out / f".tmp-{dead}-0a1b2c3d-p00_1.png"]  # an earlier version's: left alone
    for path in stale + kept:
      path.write_bytes(b"partial")
    summary = outputs.colorize_photos(colorizer, data.list_images(str(photos)), str(out),
                                      input_root=str(photos), k=2)
    assert summary.done == 1
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
  finally:
    live.kill()
    live.wait()


def test_a_grid_that_cannot_be_written_closes_its_figure(colorizer, faces):
  """issue 47, row 12: --grid onto a full disk left each photo's matplotlib figure open (memory
  grew per photo; after 20, matplotlib's RuntimeWarning). /dev/full is a real full disk: every
  write there fails with ENOSPC."""
  import errno  # pylint: disable=g-import-not-at-top
  import warnings  # pylint: disable=g-import-not-at-top
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  if not os.path.exists("/dev/full"):
    pytest.skip("no /dev/full on this system")
  plt.close("all")
  rgb = data.load_rgb(faces[0])
  result = colorizer.colorize(rgb, k=2)
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # matplotlib's "More than 20 figures" RuntimeWarning
    for _ in range(21):
      with pytest.raises(OSError) as raised:
        outputs.write_grid("/dev/full", rgb, result, sampled=False)
      assert raised.value.errno == errno.ENOSPC
  assert plt.get_fignums() == []


def test_training_curves_that_cannot_be_written_close_their_figure(tmp_path):
  """issue 47, row 12, the trainers' history.png: CurvesPNG logs a failed write and training goes
  on, so each epoch's unclosed figure stayed (a real failing write: history.png's folder is a
  file)."""
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  from divcolor_tf.training import callbacks  # pylint: disable=g-import-not-at-top
  plt.close("all")
  history = tmp_path / "history.csv"
  history.write_text("epoch,loss,val_loss\n0,2.0,2.5\n1,1.5,2.0\n")
  (tmp_path / "file").write_text("not a folder\n")
  with pytest.raises(OSError):
    callbacks.plot_history(history, tmp_path / "file" / "history.png")
  assert plt.get_fignums() == []
  assert callbacks.plot_history(history, tmp_path / "history.png")  # the same curves, drawn
  assert plt.get_fignums() == [] and (tmp_path / "history.png").stat().st_size > 0


def test_a_read_only_output_folder_is_one_line_before_any_photo(colorizer, faces, tmp_path):
  """issue 29, row 13: it named a hidden temporary file, after every photo was colorized."""
  if os.geteuid() == 0:
    pytest.skip("root writes into a read-only folder (only a read-only mount stops it)")
  photos = _photo_folder(tmp_path / "in", faces, 2)
  out = tmp_path / "out"
  out.mkdir()
  out.chmod(0o555)
  try:
    with pytest.raises(ValueError, match="the output folder is not writable"):
      outputs.colorize_photos(colorizer, data.list_images(str(photos)), str(out / "sub"),
                              input_root=str(photos), k=2)
  finally:
    out.chmod(0o755)


def _in_time(function, seconds=120):
  """function()'s result, or a failure if it has not returned within ``seconds`` (a hang)."""
  import threading  # pylint: disable=g-import-not-at-top
  result = {}

  def run():
    try:
      result["value"] = function()
    except BaseException as e:  # pylint: disable=broad-except  (re-raised below)
      result["error"] = e

  thread = threading.Thread(target=run, daemon=True)
  thread.start()
  thread.join(seconds)
  assert not thread.is_alive(), f"still running after {seconds} s: it hangs"
  if "error" in result:
    raise result["error"]
  return result["value"]


@pytest.fixture
def awkward_folder(tmp_path, faces):
  """Two faces, a FIFO named a.png, a directory symlink loop (self -> .) and a 13000x13000 PNG
  bomb (a small file; issue 29, rows 2, 3 and 12). The FIFO is opened for writing at teardown,
  so a reader that blocked on it (the old behaviour) is let go."""
  folder = _photo_folder(tmp_path / "in", faces, 2)
  fifo = folder / "a.png"
  os.mkfifo(fifo)
  os.symlink(".", folder / "self")
  Image.new("1", (13000, 13000)).save(folder / "bomb.png")
  yield folder
  try:
    handle = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.close(handle)
  except OSError:  # no reader waits on it: nothing to release
    pass


def test_a_fifo_a_symlink_loop_and_a_png_bomb_are_one_line_each(colorizer, awkward_folder,
                                                                 tmp_path):
  """issue 29: a FIFO among the photos hung colorize, stats and figure forever (row 2); a
  ``self -> .`` loop colorized a photo 41 times into out/self/self/... (row 3); a 13000x13000 PNG
  bomb was refused only after a full decode, 2.8-3.8 GB, with Pillow's two-line warning (row 12).
  Now the walk lists each photo once, the FIFO is one line at once, the bomb is one line before
  any pixel is decoded, and the two faces are colorized."""
  import warnings  # pylint: disable=g-import-not-at-top
  from divcolor_tf.data import stats as stats_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import figures  # pylint: disable=g-import-not-at-top
  folder = awkward_folder
  paths = data.list_images(str(folder))
  assert sorted(os.path.relpath(p, folder) for p in paths) == ["a.png", "bomb.png", "p00.jpg",
                                                               "p01.jpg"]
  with warnings.catch_warnings(record=True) as leaked:  # the filters as they are
    errors = []
    summary = _in_time(lambda: outputs.colorize_photos(
        colorizer, paths, str(tmp_path / "out"), input_root=str(folder), k=2,
        on_error=errors.append))
  assert not [w for w in leaked if "DecompressionBomb" in w.category.__name__], \
      [str(w.message) for w in leaked]
  assert summary.done == 2 and len(summary.failed) == 2, (summary, errors)
  assert sorted(errors) == [
      f"{folder / 'a.png'}: a FIFO (named pipe), not a regular file: not read",
      f"{folder / 'bomb.png'}: 13000x13000 pixels (169 megapixels) is over the limit of 64 "
      "megapixels (max_megapixels; divcolor-colorize --max_megapixels); not decoded"], errors
  assert not (tmp_path / "out" / "self").exists()
  assert len(_visible(tmp_path / "out")) == 2 * 2  # two sets of k = 2

  log = data.SkipLog(warn=False)
  _in_time(lambda: stats_lib.compute(str(folder), n_components=2, skip_log=log))
  assert "a FIFO (named pipe)" in log.skipped[str(folder / "a.png")], log.skipped
  assert log.skipped[str(folder / "bomb.png")].endswith(
      "over the limit of 64 megapixels (the training reader's, data.TRAINING_MAX_MEGAPIXELS); "
      "not decoded"), log.skipped

  rows = _in_time(lambda: figures.colorized_rows(colorizer, [str(folder / "a.png")] + paths[2:],
                                                 2, on_error=errors.append))
  assert len(rows) == 2 and errors[-1].endswith("a FIFO (named pipe), not a regular file: not read")

  with pytest.raises(data.DataPathError,
                     match=r"a\.png: a FIFO \(named pipe\), not a photo, a list file or a directory"):
    data.list_images(str(folder / "a.png"))
  # The glob route lists the FIFO (to be named, not dropped) and each photo once despite the loop.
  globbed = data.list_images(str(folder / "**" / "*.*"))
  assert sorted(os.path.basename(p) for p in globbed) == ["a.png", "bomb.png", "p00.jpg",
                                                          "p01.jpg"]
  # Two links to one photo in a folder stay two photos.
  os.symlink("p00.jpg", folder / "link_a.jpg")
  os.symlink("p00.jpg", folder / "link_b.jpg")
  assert sorted(os.path.basename(p) for p in data.list_images(str(folder / "*.jpg"))) == [
      "link_a.jpg", "link_b.jpg", "p00.jpg", "p01.jpg"]


def test_a_fifo_is_never_opened_and_a_socket_is_named_as_one(tmp_path):
  """Refused from its stat: opening a FIFO would release a writer waiting on it (which then gets
  SIGPIPE); a socket is named as a socket, not "No such device or address"."""
  import socket  # pylint: disable=g-import-not-at-top
  fifo = tmp_path / "waiting.png"
  os.mkfifo(fifo)
  writer = subprocess.Popen([sys.executable, "-c", f"open({str(fifo)!r}, 'wb').write(b'x')"])
  try:
    with pytest.raises(data.ImageError, match=r"a FIFO \(named pipe\), not a regular file"):
      data.load_rgb(str(fifo))
    time.sleep(0.5)
    assert writer.poll() is None  # still waiting for a reader: the FIFO was not opened
  finally:
    with open(fifo, "rb") as f:  # let it go
      f.read()
    writer.wait(timeout=30)
  server = socket.socket(socket.AF_UNIX)
  try:
    server.bind(str(tmp_path / "sock.png"))
    with pytest.raises(data.ImageError, match=r"sock\.png: a socket, not a regular file: not read"):
      data.load_rgb(str(tmp_path / "sock.png"))
  finally:
    server.close()

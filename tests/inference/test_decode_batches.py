"""Draws are decoded in bounded batches (issue 47 row 10): ``samples`` far above
contract.DECODE_BATCH gives the same colour fields as one batch, and the decoder never sees more
than DECODE_BATCH codes of a photo at once; the cGAN's masks run in chunks of its top-k batch."""

import numpy as np
import pytest
import tensorflow as tf
import tiny_models

from divcolor_tf import colorize
from divcolor_tf import data
from divcolor_tf.inference import clustered
from divcolor_tf.inference import contract
from divcolor_tf.models import unet
from divcolor_tf.models import vae


@pytest.fixture(scope="module")
def tiny(repo_root, lfw_ci):
  """(config, (trunk, mdn, decoder)): the tiny models of tests/tiny_models.py."""
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  return config, tiny_models.build(config)


@pytest.fixture(scope="module")
def photo(lfw_ci):
  return data.load_rgb(sorted(lfw_ci.rglob("*.jpg"))[0])


def test_many_samples_decode_as_one_batch_would(tiny, photo):
  tiny_config, (trunk, mdn, decoder) = tiny
  colorizer = colorize.Colorizer(trunk, mdn, decoder, tiny_config)
  n = 2 * contract.DECODE_BATCH + 7  # two full chunks and a padded one
  out = colorizer.colorize(photo, samples=n, seed=11, lazy=True)
  assert out.ab.shape[0] == n and len(out.colorizations) == n
  # The same codes decoded all at once, through the same decoder.
  field_l = colorizer.squash(colorizer.lightness(photo[None].astype(np.float32) / 255.0),
                             colorizer.field_size)
  whole = contract.decode_each(lambda z, l: vae.decode(decoder, z, l), tf.constant(out.z[None]),
                               field_l, colorizer.latent_dim, batch=n)
  np.testing.assert_allclose(out.ab, whole.numpy()[0], atol=1e-5)
  again = colorizer.colorize(photo, samples=n, seed=11, lazy=True)  # the same seed, the same draws
  np.testing.assert_array_equal(again.ab, out.ab)


@pytest.mark.parametrize("photos, k", [(1, 2 * contract.DECODE_BATCH + 7), (3, 100), (2, 5)])
def test_the_decoder_sees_at_most_one_chunk_per_photo(tiny, photos, k):
  tiny_config, (_, _, decoder) = tiny
  seen = []

  def decode(z, lightness):  # the real decoder, its batch sizes noted (eager: each call runs)
    seen.append(int(z.shape[0]))
    return vae.decode(decoder, z, lightness)

  rng = np.random.default_rng(0)
  f = tiny_config.data.field_size
  z = tf.constant(rng.normal(size=(photos, k, tiny_config.vae.latent_dim)), tf.float32)
  lightness = tf.constant(rng.uniform(0, 100, size=(photos, f, f, 1)), tf.float32)
  fields = contract.decode_each(decode, z, lightness, tiny_config.vae.latent_dim)
  assert fields.shape == (photos, k, f, f, 2)
  assert max(seen) <= photos * contract.DECODE_BATCH
  assert sum(seen) >= photos * k
  one = contract.decode_each(lambda a, b: vae.decode(decoder, a, b), z, lightness,
                             tiny_config.vae.latent_dim, batch=k)
  np.testing.assert_allclose(fields.numpy(), one.numpy(), atol=1e-5)


class _Counting:
  """The real generator, the batch size of each call noted (eager: every call runs)."""

  def __init__(self, generator):
    self.generator, self.seen = generator, []

  def __call__(self, inputs, training=False):
    self.seen.append(int(inputs["lightness"].shape[0]))
    return self.generator(inputs, training=training)


def test_the_cgans_draws_run_in_chunks_of_its_top_k_batch(tiny, photo):
  """--samples far above the cGAN's own draws (cgan.samples) once ran all masks in one batch
  (issue 47 rows 10, 21); now in chunks of max(samples, DECODE_BATCH): top-k's draws and small
  --samples are one batch as before, and the same seed gives the same draws."""
  tiny_config, _ = tiny
  config = tiny_config.copy_and_resolve_references()
  config.cgan.samples = 8
  f = config.data.field_size
  tf.keras.utils.set_random_seed(3)
  colorizer = clustered.CGANColorizer(unet.build_generator(config.cgan, f), config)
  counting = _Counting(colorizer.generator)
  colorizer.generator = counting
  chunk = max(config.cgan.samples, contract.DECODE_BATCH)
  lightness = tf.constant(np.random.default_rng(0).uniform(0, 100, (2, f, f, 1)), tf.float32)
  seed = tf.constant([5, 0], tf.int32)
  n = 2 * chunk + 3
  fields, codes = colorizer.draw(lightness, n, seed)
  assert fields.shape == (2, n, f, f, 2) and codes.shape == (2, n, 0)
  assert counting.seen and max(counting.seen) == 2 * chunk  # B photos x one chunk
  again, _ = colorizer.draw(lightness, n, seed)
  np.testing.assert_array_equal(again.numpy(), fields.numpy())
  first, second = fields[:, :chunk].numpy(), fields[:, chunk:2 * chunk].numpy()
  assert np.abs(first - second).max() > 1e-3  # each chunk its own masks
  counting.seen.clear()
  small, _ = colorizer.draw(lightness, chunk, seed)  # top-k's size: one batch, as before
  assert counting.seen == [2 * chunk]
  whole = unet.generate(counting.generator, tf.repeat(lightness, chunk, axis=0), seed)
  np.testing.assert_array_equal(small.numpy().reshape(whole.shape), whole.numpy())

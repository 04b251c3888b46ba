"""data.grey_detail: the grey network reads a photo at the detail of its training photos (issue 44,
the general model v2: its trunk saw Tiny-ImageNet's 64x64 photos upsampled to 224, and misread
sharp 224 photos; docs/quality.md section 25)."""

import numpy as np
import tensorflow as tf

from divcolor_tf import data
from divcolor_tf.inference import fullres


def test_grey_input_goes_through_the_detail_size_first_and_only_when_set():
  rng = np.random.default_rng(0)
  lightness = tf.constant(rng.uniform(0, 100, (1, 227, 227, 1)), tf.float32)
  plain = fullres.grey_input(lightness, 224)
  np.testing.assert_array_equal(plain.numpy(), fullres.squash(lightness, 224).numpy())
  detailed = fullres.grey_input(lightness, 224, detail=64)
  np.testing.assert_allclose(detailed.numpy(),
                             fullres.squash(fullres.squash(lightness, 64), 224).numpy(), atol=1e-5)
  assert np.abs(detailed.numpy() - plain.numpy()).mean() > 1.0  # the detail is gone
  # A detail at least the grey size changes nothing.
  np.testing.assert_array_equal(fullres.grey_input(lightness, 64, detail=64).numpy(),
                                fullres.squash(lightness, 64).numpy())


def test_the_evaluation_pipeline_reads_the_grey_input_at_the_same_detail(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  photo = tmp_path / "noise.png"
  Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(photo)
  plain = next(iter(data.make_dataset([str(photo)], grey_size=224, batch_size=1)))["grey"]
  detailed = next(iter(data.make_dataset([str(photo)], grey_size=224, batch_size=1,
                                         grey_detail=64)))["grey"]
  assert plain.shape == detailed.shape == (1, 224, 224, 1)
  # Through 64x64 the noise is averaged away: much less spread than at full detail.
  assert float(tf.math.reduce_std(detailed)) < 0.5 * float(tf.math.reduce_std(plain))

"""Diverse colorization of a photo at test time (paper Sections 4 and 6.2, Figure 1).

One definition of "colorize a photo", shared by ``divcolor-colorize``, ``divcolor-evaluate`` and
the exported models:

  1. the photo's lightness L (CIE Lab; a colour photo is reduced to L first, so its own colours
     can never reach the output);
  2. L squashed to the feature network's grey size (paper 224x224) -> grey features G (conv7 of
     Zhang et al.'s network, ``models.features``);
  3. the MDN reads G and gives a Gaussian mixture over the VAE's embedding z: M means (paper 8),
     mixture weights pi = softmax(logits), fixed spherical variance sigma^2 (paper 0.1);
  4. either the top-k means ordered by pi, descending (the paper's test time, k = 5 in its
     figures), or ``samples`` draws z ~ the mixture (pick a component by pi, then
     z = mu + sigma * eps);
  5. the VAE decoder turns each z into a 64x64 colour field (ab/128); the "+skip" decoder also
     reads the 64x64 lightness;
  6. each colour field is upsampled bilinearly to the photo's own size and joined with the
     photo's own full-resolution L, then converted to uint8 sRGB (:func:`join_lightness`). Output
     size and aspect are the input's.

Step 6's gamut: ``gamut="chroma"`` (default) keeps each pixel's L and hue and gives up just enough
chroma to stay in sRGB (:func:`color.fit_chroma`'s bisection, run by :func:`color.l_ab_to_srgb8`
on the out-of-gamut pixels only), so the output's L is the input's to within 8-bit rounding;
``gamut="clip"`` clips sRGB per channel (the authors' behaviour, cheaper).

Memory and time at full resolution (strips, the pixel budget ``max_megapixels``): see
:mod:`divcolor_tf.inference.fullres`, which holds steps 1 and 6.

The numeric path is TensorFlow ops only (no numpy, no py_function) so that
:meth:`Colorizer.colorize_tensor` can be traced into a SavedModel or a TFLite model; the Python
wrapper :meth:`Colorizer.colorize` decodes inputs, loops over photos of different sizes and
returns numpy :class:`Colorization` results. Resizing down uses an antialiased bilinear filter by
default, as the training pipeline (``data.make_dataset``) did; ``antialias=False`` gives the
plain bilinear resize that TFLite has as a builtin op.
"""

import os

from absl import logging
import numpy as np
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import exported
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.inference import contract
from divcolor_tf.inference import fullres
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf.models import vae


class Colorizer(contract.Sampling):
  """The paper's test-time pipeline over a trained feature trunk, MDN and VAE decoder.

  Build it from a model directory with :meth:`load`, or from in-memory Keras models.
  """

  def __init__(self, trunk, mdn, decoder, config, *, gamut="chroma", antialias=True,
               encoder=None, max_megapixels=None):
    """Args:
      trunk: grey features G: input [B, S, S, 1] L in [0, 100] (``features.build_trunk``).
      mdn: grey features -> {'means': [B, M, d], 'logits': [B, M]} (``mdn.build_mdn``).
      decoder: the VAE decoder, z [B, d] (or {'z', 'lightness' [B, F, F, 1]} for "+skip") ->
        [B, F, F, 2] ab/128.
      config: the workdir's resolved config; reads ``mdn.variance`` (sigma^2, default 0.1),
        ``colorize.k`` (default 5) and ``dataset``.
      gamut: "chroma" or "clip" (module docstring, step 6).
      antialias: antialiased bilinear when shrinking L (as the training pipeline did).
      encoder: optional VAE encoder Q(z | C) (not needed to colorize; evaluation's
        reconstruction row and the export's ``encode`` signature use it).
      max_megapixels: the pixel budget of :meth:`colorize` (None: ``MAX_MEGAPIXELS``; 0: none).
    """
    if gamut not in ("chroma", "clip"):
      raise ValueError(f"gamut must be 'chroma' or 'clip', got {gamut!r}")
    self.trunk, self.mdn, self.decoder, self.config = trunk, mdn, decoder, config
    self.encoder = encoder
    self.workdir = None  # set by load(): where the model's files (stats, baselines) are
    self.gamut, self.antialias = gamut, bool(antialias)
    self.max_megapixels = fullres.megapixel_budget(max_megapixels)
    grey_shape = tuple(trunk.input.shape[1:])
    if len(grey_shape) != 3 or grey_shape[2] != 1 or grey_shape[0] != grey_shape[1]:
      raise ValueError(f"trunk input must be [B, S, S, 1] lightness, got {trunk.input.shape}")
    self.grey_size = int(grey_shape[0])
    features_shape = tuple(trunk.output.shape[1:])
    if tuple(mdn.input.shape[1:]) != features_shape:
      raise ValueError(f"the MDN reads grey features {tuple(mdn.input.shape[1:])} but the trunk "
                       f"gives {features_shape}")
    means_shape = mdn.output["means"].shape
    self.num_components, self.latent_dim = int(means_shape[1]), int(means_shape[2])
    self.skip = vae.is_skip(decoder)
    z_input = decoder.input["z"] if self.skip else decoder.input
    if int(z_input.shape[-1]) != self.latent_dim:
      raise ValueError(f"the decoder takes z of size {z_input.shape[-1]} but the MDN predicts "
                       f"{self.latent_dim}")
    self.field_size = int(decoder.output.shape[1])
    self.variance = float(config_lib.lookup(config, "mdn.variance", 0.1))
    self.k = int(config_lib.lookup(config, "colorize.k", 5))
    self.dataset = str(config_lib.lookup(config, "dataset", "") or "")
    self._functions = {}  # ("top_k", k) / ("samples", n) -> a tf.function traced once
    self._join = fullres.traced_join(self.gamut)  # lazy colorizations, one at a time

  @classmethod
  def load(cls, workdir, **kwargs):
    """A Colorizer from a model directory (layout: ``divcolor_tf.workdir``) or an export (its
    Keras models rebuilt from the exported weights: ``exported.workdir_for``).

    Raises:
      FileNotFoundError: one line naming the missing file and the command that makes it.
      ValueError: one line naming a file that exists but cannot be loaded.
    """
    workdir = exported.workdir_for(os.fspath(workdir))
    workdir_lib.require(workdir, *workdir_lib.COLORIZER_FILES)
    joint = workdir_lib.served(workdir, workdir_lib.DECODER) == workdir_lib.JOINT_DECODER
    config = workdir_lib.load_config(workdir, workdir_lib.JOINT_DIR if joint else "")  # + joint.*
    decoder, trunk, mdn = (workdir_lib.load_keras(workdir, workdir_lib.served(workdir, name))
                           for name in (workdir_lib.DECODER, workdir_lib.TRUNK, workdir_lib.MDN))
    if os.path.isfile(workdir_lib.path(workdir, workdir_lib.ENCODER)) and "encoder" not in kwargs:
      try:
        kwargs["encoder"] = workdir_lib.load_keras(workdir, workdir_lib.ENCODER)
      except ValueError as e:  # only evaluation needs it
        logging.warning("%s; colorizing without it", e)
    colorizer = cls(trunk, mdn, decoder, config, **kwargs)
    colorizer.workdir = workdir
    logging.info("loaded %s: grey %dx%d, M=%d, d=%d, colour field %dx%d%s", workdir,
                 colorizer.grey_size, colorizer.grey_size, colorizer.num_components,
                 colorizer.latent_dim, colorizer.field_size, colorizer.field_size,
                 " (+skip decoder)" if colorizer.skip else "")
    return colorizer

  # The numeric core: TF ops only.

  def lightness(self, rgb):
    """sRGB [B, H, W, 3] (float in [0, 1], or uint8) -> L [B, H, W, 1]: all that is kept of the
    input (:func:`photo_lightness`)."""
    return fullres.photo_lightness(rgb)

  def squash(self, lightness, size):
    """L [B, H, W, 1] shrunk (or grown) to size x size, as the training pipeline did
    (:func:`squash` with this colorizer's ``antialias``)."""
    return fullres.squash(lightness, size, self.antialias)

  def mixture(self, grey):
    """Grey L [B, S, S, 1] at the trunk's size -> (means [B, M, d], logits [B, M]), float32."""
    out = self.mdn(self.trunk(grey, training=False), training=False)
    return tf.cast(out["means"], tf.float32), tf.cast(out["logits"], tf.float32)

  @property
  def can_encode(self):
    return self.encoder is not None

  def encode(self, colour_field):
    """The encoder's mean embedding of true colour fields [B, F, F, 2] -> [B, d], float32."""
    if self.encoder is None:
      raise ValueError("this model directory has no encoder.keras")
    mean, _ = self.encoder(colour_field, training=False)
    return tf.cast(mean, tf.float32)

  def decode(self, z, field_lightness):
    """z [B, K, d] -> colour fields [B, K, F, F, 2] (ab/128); L [B, F, F, 1] feeds "+skip"."""
    return contract.decode_each(lambda flat_z, flat_l: vae.decode(self.decoder, flat_z, flat_l),
                       z, field_lightness, self.latent_dim)

  def top_k(self, means, logits, k):
    """(z [B, k, d], weights [B, k], components [B, k]): the k means of highest pi, descending."""
    z, weights, components = mdn_lib.top_k_means(means, logits, k)
    return tf.cast(z, tf.float32), tf.cast(weights, tf.float32), tf.cast(components, tf.int64)

  def draw(self, means, logits, n, seed):
    """n draws z ~ the mixture per image (``mdn.sample_mixture`` with this model's sigma^2)."""
    return mdn_lib.sample_mixture(means, logits, n, seed, self.variance)

  def colour_fields(self, grey, field_lightness, k=None, samples=None, seed=(0, 0)):
    """The 64x64 level of the pipeline (what Table 3 scores), from the dataset's own inputs.

    Args:
      grey: L [B, S, S, 1] at the trunk's size; field_lightness: L [B, F, F, 1].
      k: top-k means (default: config colorize.k); or samples: draws from the mixture.
      seed: the stateless seed pair for ``samples``.

    Returns:
      dict of ab [B, K, F, F, 2], weights [B, K], z [B, K, d], components [B, K].
    """
    means, logits = self.mixture(grey)
    if samples:
      z, weights, components = self.draw(means, logits, samples, seed)
    else:
      z, weights, components = self.top_k(means, logits, self.k if k is None else k)
    ab = self.decode(z, field_lightness)
    return {"ab": ab, "weights": weights, "z": z, "components": components}

  def _colorize(self, rgb, k, samples, seed, join=True, fused=True):
    lightness = self.lightness(rgb)
    out = self.colour_fields(self.squash(lightness, self.grey_size),
                             self.squash(lightness, self.field_size), k, samples, seed)
    if join:
      out["rgb"] = fullres.join_lightness(lightness, out["ab"], self.gamut, fused=fused)
    else:  # lazy: joined one colorization at a time (LazyColorizations)
      out["lightness"] = lightness
    return out

  def _function(self, mode, count, dtype=tf.float32, join=True):
    """The traced pipeline for one k (top-k) or n (samples), input dtype (float32 or uint8) and
    join (all K full-resolution colorizations, or L for a lazy join): any photo size, one trace."""
    key = (mode, count, dtype, join)
    if key not in self._functions:
      rgb_spec = tf.TensorSpec([None, None, None, 3], dtype)
      if mode == "top_k":
        fn = tf.function(lambda rgb: self._colorize(rgb, count, None, (0, 0), join),
                         input_signature=[rgb_spec])
      else:
        fn = tf.function(lambda rgb, seed: self._colorize(rgb, None, count, seed, join),
                         input_signature=[rgb_spec, tf.TensorSpec([2], tf.int32)])
      self._functions[key] = fn
    return self._functions[key]

  def colorize_tensor(self, rgb, k=None):
    """The exportable core: top-k colorizations of a batch of same-size photos.

    Pure TF ops; trace it with ``tf.function(input_signature=[tf.TensorSpec([None, None, None,
    3], tf.uint8)])`` (or tf.float32) for a SavedModel or TFLite.

    Args:
      rgb: sRGB [B, H, W, 3], uint8 or float in [0, 1] (a grey photo has three equal channels).
      k: how many (default: config colorize.k), fixed when traced.

    Returns:
      (uint8 sRGB [B, K, H, W, 3], ab [B, K, F, F, 2] ab/128, weights [B, K] descending).
    """
    out = self._colorize(rgb, self.k if k is None else k, None, (0, 0), fused=False)  # no XLA
    return out["rgb"], out["ab"], out["weights"]

  # The Python wrapper.

  def colorize(self, images, k=None, samples=None, seed=None, lazy=False):
    """K colorizations of each photo, at its own size.

    Args:
      images: one photo or a list of photos (or a [B, H, W, 3] array), each uint8 or float
        ([0, 1]) RGB [H, W, 3], or grey [H, W] / [H, W, 1]; any size and aspect.
      k: the top-k means by mixture weight, descending (default: config colorize.k, paper 5).
      samples: instead of top-k, this many draws from the mixture.
      seed: int seed of the draws (photo i of a list uses the stateless seed (seed, i));
        None: a fresh random seed. Ignored for top-k, which is deterministic.
      lazy: ``colorizations`` is a :class:`LazyColorizations`: each joined at full resolution
        when indexed (memory for one, not K; the same images).

    Returns:
      A :class:`Colorization` for one photo, a list of them for a list.

    Raises:
      ValueError: one line, for a bad k / samples, an image that is not RGB or grey, or one
        over the pixel budget (``max_megapixels``).
    """
    single, batch, k, samples, seed = contract.colorize_arguments(self, images, k, samples, seed)
    results = []
    for i, image in enumerate(batch):
      rgb = fullres.checked_rgb(image, f"image {i}", self.max_megapixels)[None]
      dtype = tf.as_dtype(rgb.dtype)
      join = not lazy
      if samples is None:
        out = self._function("top_k", k, dtype, join)(rgb)
      else:
        out = self._function("samples", samples, dtype, join)(rgb, contract.photo_seed(seed, i))
      results.append(contract.Colorization(
          colorizations=(out["rgb"][0].numpy() if join else
                         contract.LazyColorizations(self._join, out["lightness"], out["ab"])),
          ab=out["ab"][0].numpy(), weights=out["weights"][0].numpy(), z=out["z"][0].numpy(),
          components=out["components"][0].numpy().astype(np.int64)))
    return results[0] if single else results


# The bundled models by name (``load("lfw")``, ``--model lfw``): folders of saved_models/.
BUNDLED = {"lfw": "divcolor_lfw", "imagenet": "divcolor_imagenet"}
_SAVED_MODELS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "saved_models")


def resolve_model(path):
  """The directory a model argument names: a bundled model's name (:data:`BUNDLED`) unless a
  file or folder of that name exists here, otherwise the path as given.

  Raises:
    FileNotFoundError: one line, for a bundled name whose export is not in this checkout.
  """
  path = os.fspath(path)
  if path in BUNDLED and not os.path.exists(path):
    bundled = os.path.join(_SAVED_MODELS, BUNDLED[path])
    if not os.path.isdir(bundled):
      raise FileNotFoundError(f"{path}: the bundled model {bundled} is not in this installation")
    return bundled
  return path


def load(path, **kwargs):
  """A colorizer for a training workdir (:meth:`Colorizer.load`), an exported SavedModel
  (``saved_model.SavedModelColorizer``: its version directory, or the model directory above it, in
  which case the highest version is used, as TF Serving does), e.g. saved_models/divcolor_lfw, or
  a bundled model by name (:data:`BUNDLED`: "lfw", "imagenet").

  Raises:
    FileNotFoundError / ValueError: one line naming the path and the problem.
  """
  from divcolor_tf.inference import saved_model  # pylint: disable=g-import-not-at-top
  path = resolve_model(path)
  export_dir = exported.saved_model_dir(path)
  if export_dir:
    return saved_model.SavedModelColorizer(export_dir, **kwargs)
  return Colorizer.load(path, **kwargs)

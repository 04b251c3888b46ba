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
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import exported
from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.inference import contract
from divcolor_tf.inference import saved_model
from divcolor_tf.inference.bundled import BUNDLED, resolve_model  # noqa: F401  (the API's names)
from divcolor_tf.methods import ours
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf.models import vae


Pipeline = contract.Pipeline  # the base of every Keras-model colorizer (contract.py)


class Colorizer(contract.MixtureEvaluation, Pipeline):
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
    super().__init__(config, gamut=gamut, antialias=antialias, max_megapixels=max_megapixels)
    self.trunk, self.mdn, self.decoder = trunk, mdn, decoder
    self.encoder = encoder
    grey_shape = tuple(trunk.input.shape[1:])
    if len(grey_shape) != 3 or grey_shape[2] != 1 or grey_shape[0] != grey_shape[1]:
      raise ValueError(f"trunk input must be [B, S, S, 1] lightness, got {trunk.input.shape}")
    self.grey_size = int(grey_shape[0])
    features_shape = tuple(trunk.output.shape[1:])
    if tuple(mdn.input.shape[1:]) != features_shape:
      raise ValueError(f"the MDN reads grey features {tuple(mdn.input.shape[1:])} but the trunk "
                       f"gives {features_shape}")
    self.num_components = int(mdn.output["means"].shape[1])
    self.latent_dim = vae.latent_size(mdn)
    self.skip = vae.is_skip(decoder)
    if vae.latent_size(decoder) != self.latent_dim:
      raise ValueError(f"the decoder takes z of size {vae.latent_size(decoder)} but the MDN "
                       f"predicts {self.latent_dim}")
    self.field_size = int(decoder.output.shape[1])
    self.variance = float(config_lib.lookup(config, "mdn.variance", 0.1))

  @classmethod
  def load(cls, workdir, **kwargs):
    """A Colorizer from a model directory (layout: ``divcolor_tf.workdir``) or an export (its
    Keras models rebuilt from the exported weights: ``exported.workdir_for``).

    Raises:
      FileNotFoundError: one line naming the missing file and the command that makes it.
      ValueError: one line naming a file that exists but cannot be loaded.
    """
    workdir = exported.workdir_for(os.fspath(workdir))
    workdir_lib.require(workdir, *ours.METHOD.files)
    joint = workdir_lib.served(workdir, workdir_lib.DECODER) == workdir_lib.JOINT_DECODER
    config = workdir_lib.load_config(workdir, workdir_lib.JOINT_DIR if joint else "")  # + joint.*
    if os.path.isfile(workdir_lib.path(workdir, os.path.join(workdir_lib.FEATURES_DIR,
                                                             workdir_lib.CONFIG))):
      # the trunk is the feature stage's: its network and size (what an export rebuilds)
      config.features = workdir_lib.load_config(workdir, workdir_lib.FEATURES_DIR).features
    decoder, trunk, mdn = (workdir_lib.load_keras(workdir, workdir_lib.served(workdir, name))
                           for name in (workdir_lib.DECODER, workdir_lib.TRUNK, workdir_lib.MDN))
    if os.path.isfile(workdir_lib.path(workdir, workdir_lib.ENCODER)) and "encoder" not in kwargs:
      try:
        kwargs["encoder"] = workdir_lib.load_keras(workdir, workdir_lib.ENCODER)
      except ValueError as e:  # only evaluation needs it
        logging.warning("%s; colorizing without it", e)
    config.data.grey_size = int(trunk.input.shape[1])
    colorizer = cls(trunk, mdn, decoder, config, **kwargs)
    colorizer.workdir = workdir
    logging.info("loaded %s: grey %dx%d, M=%d, d=%d, colour field %dx%d%s", workdir,
                 colorizer.grey_size, colorizer.grey_size, colorizer.num_components,
                 colorizer.latent_dim, colorizer.field_size, colorizer.field_size,
                 " (+skip decoder)" if colorizer.skip else "")
    return colorizer

  def mixture(self, grey):
    """Grey L [B, S, S, 1] at the trunk's size -> (means [B, M, d], logits [B, M]), float32."""
    out = self.mdn(self.trunk(grey, training=False), training=False)
    return tf.cast(out["means"], tf.float32), tf.cast(out["logits"], tf.float32)

  def encode(self, colour_field):
    """The encoder's mean embedding of true colour fields [B, F, F, 2] -> [B, d], float32."""
    if self.encoder is None:
      raise ValueError("this model directory has no encoder.keras")
    mean, _ = self.encoder(colour_field, training=False)
    return tf.cast(mean, tf.float32)

  def decode(self, z, field_lightness):
    """z [B, K, d] -> colour fields [B, K, F, F, 2] (ab/128); L [B, F, F, 1] feeds "+skip"."""
    return contract.decode_keras(self.decoder, z, field_lightness, self.latent_dim)

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

def load(path, trust=False, **kwargs):
  """A colorizer for a training workdir (:meth:`Colorizer.load`), an exported SavedModel
  (``saved_model.SavedModelColorizer``: its version directory, or the model directory above it, in
  which case the highest version is used, as TF Serving does), e.g. saved_models/divcolor_lfw, or
  a bundled model by name (:data:`BUNDLED`: "lfw", "imagenet"). Another method's workdir or
  export (the paper's baselines: divcolor-train-cvae, -cgan), or "prior:PATH", gives that
  method's colorizer (``divcolor_tf.methods``), over Keras models.

  An export is a program (``exported.check``): it must carry assets.extra/export.json, and one whose
  graph holds ops outside the allow-list is refused unless ``trust`` (also when only its weights
  are read, as for the baselines: what is refused is the file, however it would be read).

  Raises:
    FileNotFoundError / ValueError: one line naming the path and the problem.
  """
  method, path = model_method(path)
  export_dir = exported.saved_model_dir(path)
  if export_dir and method.serves_export:
    return saved_model.SavedModelColorizer(export_dir, trust=trust, **kwargs)
  if export_dir:
    exported.check(export_dir, trust)
  return method.load(path, **kwargs)


def model_method(path):
  """(method, directory) of a model argument: "NAME:PATH" for a prefixed method (``prior:``),
  else the method a workdir records (``methods.of_workdir``) or an export's export.json says,
  with a bundled model's name resolved (:func:`resolve_model`)."""
  method, path = methods.split(path)
  path = resolve_model(path)
  if method is None:
    export_dir = exported.saved_model_dir(path)
    method = methods.of_export(export_dir) if export_dir else methods.of_workdir(path)
  return method, path


def load_pipeline(path, **kwargs):
  """A colorizer over Keras models (a :class:`Pipeline`: what the export traces) for any method's
  workdir or export, or "prior:PATH": :func:`load` without its SavedModel path. (Each Keras file
  is read by ``workdir.load_keras``, the one loader of a .keras file.)"""
  method, path = model_method(path)
  return method.load(path, **kwargs)

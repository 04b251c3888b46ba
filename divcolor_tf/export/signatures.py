"""The exported signatures (``serving_default``, ``colorize_bytes``, ``decode``, ``decode_each``,
``mixture``, ``grey_mixture``, ``encode``) as traced functions of one Colorizer, and the Keras
``ExportArchive`` that holds them (the package docstring has the table).
"""

import tensorflow as tf

from divcolor_tf import methods
from divcolor_tf.export import image_bytes as image_bytes_lib
from divcolor_tf.io import exif
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf.models import vae


SIGNATURES = ("serving_default", "colorize_bytes", "decode", "decode_each", "mixture",
              "grey_mixture")
OPTIONAL_SIGNATURES = ("encode",)  # when the Colorizer has the VAE encoder


class Endpoints:
  """The exported functions, over one Colorizer (TF ops only)."""

  def __init__(self, colorizer):
    self.c = colorizer
    self.k = colorizer.num_components

  def colorize(self, image):
    """uint8 [B, H, W, 3] -> {colorizations, ab, weights}: all K = M means, descending."""
    image = image_bytes_lib.checked_image(image, max_megapixels=self.c.max_megapixels)
    colorizations, ab, weights = self.c.colorize_tensor(image, k=self.k)
    return {"colorizations": colorizations, "ab": ab, "weights": weights}

  def colorize_bytes(self, image_bytes):
    """string [B] -> {png_bytes: string [B, K], weights [B, K]}; photos may differ in size.

    Each photo is decoded as the command line decodes it (grey to RGB, transparency over white:
    :func:`rgb_over_white`; a GIF's transparency excepted, which TF's GIF decoder drops), then
    turned upright by its EXIF orientation (:mod:`divcolor_tf.io.exif`, graph ops),
    as the command line's Pillow decoding does, so a phone photo is not colorized sideways.
    JPEG, PNG, GIF, BMP and still WebP decode in TF ops; TIFF and animated WebP do not (TF has
    no TIFF decoder, and its WebP decoder fails on, or garbles, animations): they are refused
    with a message saying so, as is a photo whose header declares more pixels than the
    Colorizer's ``max_megapixels``, before it is decoded.
    """
    max_pixels = (self.c.max_megapixels or 0) * 1e6

    def one(encoded):
      header = image_bytes_lib.header(encoded)
      is_jpeg = tf.io.is_jpeg(encoded)
      webp = image_bytes_lib.starts(header, 0, b"RIFF") & image_bytes_lib.starts(header, 8, b"WEBP")
      tiff = image_bytes_lib.starts(header, 0, b"II*\0") | image_bytes_lib.starts(header, 0, b"MM\0*")
      animated = webp & image_bytes_lib.starts(header, 12, b"VP8X") & tf.equal(header[20] // 2 % 2, 1)
      known = tf.reduce_any(tf.stack([
          is_jpeg, image_bytes_lib.starts(header, 0, image_bytes_lib.PNG_MAGIC), image_bytes_lib.starts(header, 0, b"GIF"),
          image_bytes_lib.starts(header, 0, b"BM"), webp, tiff]))
      checks = [
          tf.debugging.Assert(
              known, ["image_bytes: not an encoded JPEG, PNG, GIF, BMP or WebP image"]),
          tf.debugging.Assert(
              ~tiff, ["image_bytes: a TIFF image, which the serving graph cannot decode (TF has "
                      "no TIFF decoder); send it as PNG or JPEG, or its decoded pixels to "
                      "serving_default"]),
          tf.debugging.Assert(
              ~animated, ["image_bytes: an animated WebP, which the serving graph cannot decode; "
                          "send its first frame as PNG or JPEG, or its decoded pixels to "
                          "serving_default"]),
      ]
      with tf.control_dependencies(checks):
        declared = image_bytes_lib.declared_size(encoded, header, is_jpeg)
      if max_pixels:
        checks = [tf.debugging.Assert(
            tf.reduce_prod(tf.cast(declared, tf.float64)) <= max_pixels,
            [f"image_bytes: over the limit of {self.c.max_megapixels:g} megapixels (the "
             "exported Colorizer's max_megapixels); the file declares frames (a GIF's, each "
             "decoded at its largest frame's size), height, width:", declared])]
      with tf.control_dependencies(checks):
        image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
      image = exif.apply_orientation(image_bytes_lib.rgb_over_white(tf.ensure_shape(image, [None, None, None])),
                                     exif.exif_orientation(encoded))
      out = self.colorize(image_bytes_lib.checked_image(image[None], "image_bytes")[0][None])
      pngs = tf.stack([tf.io.encode_png(out["colorizations"][0, i]) for i in range(self.k)])
      return pngs, out["weights"][0]

    png, weights = tf.map_fn(
        one, image_bytes,
        fn_output_signature=(tf.TensorSpec([self.k], tf.string),
                             tf.TensorSpec([self.k], tf.float32)))
    return {"png_bytes": png, "weights": weights}

  def decode(self, z, lightness=None):
    """z [B, d] (and L [B, F, F, 1] for "+skip") -> {ab [B, F, F, 2]}."""
    return {"ab": vae.decode(self.c.decoder, z, lightness)}

  def decode_each(self, z, lightness=None):
    """z [B, K, d] (and each photo's L [B, F, F, 1] for "+skip") -> {ab [B, K, F, F, 2]}: a
    photo's K codes, a "+skip" decoder's grey path run once for them (``models.vae.decode_each``),
    not once per code as ``decode`` must."""
    return {"ab": self.c.decode(z, lightness)}

  def grey_mixture(self, grey):
    """L [B, S, S, 1] at the trunk's size -> {means [B, M, d], weights [B, M]} (evaluation feeds
    the same squashed grey input the models were trained on)."""
    means, logits = self.c.mixture(grey)
    return {"means": means, "weights": tf.cast(mdn_lib.mixture_weights(logits), tf.float32)}

  def encode(self, colour_field):
    """colour field [B, F, F, 2] (ab/128) -> {mean [B, d]}: the VAE encoder's mean of Q(z | C)."""
    return {"mean": self.c.encode(colour_field)}

  def mixture(self, image):
    """uint8 [B, H, W, 3] -> {means [B, M, d], weights [B, M]} in component order."""
    lightness = self.c.lightness(image_bytes_lib.checked_image(
        image, max_megapixels=self.c.max_megapixels))
    grey = self.c.squash(lightness, self.c.grey_size)
    means, logits = self.c.mixture(grey)
    return {"means": means, "weights": tf.cast(mdn_lib.mixture_weights(logits), tf.float32)}


def archive(colorizer, endpoints):
  """A keras ExportArchive with ``endpoints`` over the Colorizer's Keras models.

  The models are deliberately NOT passed to ``archive.track``: the archive already saves every
  variable its endpoints use (``_all_variables``, the underlying tf.Variables), and tracking the
  models adds their Keras variable wrappers as separate checkpoint objects, so each weight was
  written twice (measured: 59.9 MB of variables for the 7.5M-parameter LFW model instead of 30).
  Without ``track`` the session loader still finds every variable, BN statistics included
  (tests/export/test_export.py).

  Args:
    endpoints: list of (name, function, input_signature).
  """
  del colorizer  # its models are reached through the endpoints
  import keras  # pylint: disable=g-import-not-at-top  (this module loads without TensorFlow)
  archive = keras.export.ExportArchive()
  for name, fn, signature in endpoints:
    archive.add_endpoint(name, fn, input_signature=signature)
  return archive


def endpoint_list(colorizer, endpoints):
  """[(name, function, input_signature)] of an export: the signatures its method's registry
  record lists (``methods.Method.endpoints``; ours: all of them, the CVAE: serving_default,
  colorize_bytes and decode, the cGAN: the first two), "encode" only when the colorizer has an
  encoder."""
  field, grey = colorizer.field_size, getattr(colorizer, "grey_size", None)
  every = {
      "serving_default": lambda: (endpoints.colorize, [image_spec()]),
      "colorize_bytes": lambda: (endpoints.colorize_bytes,
                                 [tf.TensorSpec([None], tf.string, name="image_bytes")]),
      "decode": lambda: (decode_fn(endpoints), decode_signature(colorizer)),
      "decode_each": lambda: (decode_fn(endpoints, each=True), decode_signature(colorizer,
                                                                              each=True)),
      "mixture": lambda: (endpoints.mixture, [image_spec()]),
      "grey_mixture": lambda: (endpoints.grey_mixture,
                               [tf.TensorSpec([None, grey, grey, 1], tf.float32, name="grey")]),
      "encode": lambda: (endpoints.encode,
                         [tf.TensorSpec([None, field, field, 2], tf.float32,
                                        name="colour_field")]),
  }
  wanted = [name for name in methods.get(colorizer.method).endpoints
            if name != "encode" or colorizer.can_encode]
  return [(name,) + every[name]() for name in wanted]


def image_spec(height=None, width=None, batch=None):
  return tf.TensorSpec([batch, height, width, 3], tf.uint8, name="image")


def decode_signature(colorizer, batch=None, each=False):
  """``decode``'s inputs (``each``: ``decode_each``'s, z [batch, K, d])."""
  f = colorizer.field_size
  z = [batch, None, colorizer.latent_dim] if each else [batch, colorizer.latent_dim]
  spec = [tf.TensorSpec(z, tf.float32, name="z")]
  if colorizer.skip:
    spec.append(tf.TensorSpec([batch, f, f, 1], tf.float32, name="lightness"))
  return spec


def decode_fn(endpoints, each=False):
  decode = endpoints.decode_each if each else endpoints.decode
  if endpoints.c.skip:
    return lambda z, lightness: decode(z, lightness)  # pylint: disable=unnecessary-lambda
  return lambda z: decode(z)  # pylint: disable=unnecessary-lambda

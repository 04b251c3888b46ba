"""Ours: the paper's VAE over colour fields and the MDN over its codes, from grey features."""

from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib

METHOD = methods.Method(
    name="divcolor",
    label="Ours",
    files=(workdir_lib.CONFIG, workdir_lib.DECODER, workdir_lib.TRUNK, workdir_lib.MDN),
    pipeline="divcolor_tf.inference.colorizer:Colorizer",
    models="divcolor_tf.methods.models:ours",
    endpoints=methods.ENDPOINTS,
    tflite=True,
    serves_export=True,
    vae=True,
)

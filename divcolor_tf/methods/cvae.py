"""The paper's CVAE baseline (Section 5): z ~ N(0, I) decoded with the photo's grey level."""

from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib

METHOD = methods.Method(
    name="cvae",
    label="CVAE",
    section="cvae",
    files=(workdir_lib.CONFIG, workdir_lib.CVAE_DECODER),
    marker=workdir_lib.CVAE_DECODER,
    pipeline="divcolor_tf.inference.clustered:CVAEColorizer",
    models="divcolor_tf.methods.models:cvae",
    endpoints=("serving_default", "colorize_bytes", "decode"),
)

"""The authors' code's "CVAE" row (REFERENCE.md): our "+skip" VAE decoder fed z ~ N(0, I), no MDN.

A test-time reading of one of our models, named ``prior:PATH``; nothing of its own to export.
"""

from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib

METHOD = methods.Method(
    name="prior",
    label="prior through our +skip decoder (the authors' code's CVAE row)",
    files=(workdir_lib.CONFIG, workdir_lib.DECODER),
    section="cvae",  # its draws and clusters are the CVAE's
    pipeline="divcolor_tf.inference.clustered:PriorColorizer",
    prefixed=True,
    why_not_exported=("a \"prior:\" model is a test-time reading of a +skip model; export that "
                      "model itself"),
)

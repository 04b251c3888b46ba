"""The paper's cGAN baseline (Section 5): pix2pix's U-Net with its dropout on at test time."""

from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib

METHOD = methods.Method(
    name="cgan",
    label="cGAN",
    section="cgan",
    files=(workdir_lib.CONFIG, workdir_lib.GENERATOR),
    marker=workdir_lib.GENERATOR,
    pipeline="divcolor_tf.inference.clustered:CGANColorizer",
    models="divcolor_tf.methods.models:cgan",
)

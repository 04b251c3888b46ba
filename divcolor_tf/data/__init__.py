"""The data layer: photos on disk (:mod:`.sources`), the tf.data pipeline (:mod:`.pipeline`) and
the colour statistics of a training set (:mod:`.stats`).

``from divcolor_tf import data`` gives the names of the first two (``data.list_images``,
``data.epoch_datasets``, ...); no TensorFlow is imported until a pipeline is built.
"""

from divcolor_tf.data.sources import (
    SHARED, resolve_source, shared_data, shared_source, source_name,
    IMAGE_EXTENSIONS, FORMATS, MIN_SIDE, NEAR_GREY_THRESHOLD, TRAINING_MAX_MEGAPIXELS,
    display_path, DataPathError, ImageError, list_images, load_rgb, SkipLog, split, config_paths,
    near_grey_list)
from divcolor_tf.data.pipeline import (
    make_dataset, epoch_seed, epoch_batches, epoch_datasets)

__all__ = [
    "SHARED", "resolve_source", "shared_data", "shared_source", "source_name",
    "IMAGE_EXTENSIONS", "FORMATS", "MIN_SIDE", "NEAR_GREY_THRESHOLD", "TRAINING_MAX_MEGAPIXELS",
    "display_path", "DataPathError", "ImageError", "list_images", "load_rgb", "SkipLog", "split",
    "config_paths", "near_grey_list", "make_dataset", "epoch_seed", "epoch_batches", "epoch_datasets",
]

"""Images/s of the input pipeline: photo files -> 64x64 ab field + 64x64 L + 224x224 L.

  python bench/data_pipeline.py --images ../shared/data/lfw/train --n 2000

Prints one line per setting (the paper's sizes by default). Not a test: figures go in the notes.
"""

import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGES = flags.DEFINE_string("images", "../shared/data/lfw/train", "directory, list file or glob")
N = flags.DEFINE_integer("n", 2000, "photos per measurement")
BATCH = flags.DEFINE_integer("batch_size", 32, "batch size")
GREY = flags.DEFINE_integer("grey_size", 224, "grey input side")


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  paths = data.list_images(IMAGES.value)[:N.value]
  print(f"{len(paths)} photos from {IMAGES.value}; batch {BATCH.value}; "
        f"{os.cpu_count()} cores; TF {tf.__version__}")
  for name, kwargs in [("decode+resize+Lab", {}), ("  + drop_near_grey", {"drop_near_grey": True}),
                       ("  second epoch from cache", {"cache": True})]:
    ds = data.make_dataset(paths, field_size=64, grey_size=GREY.value, batch_size=BATCH.value,
                           skip_log=data.SkipLog(warn=False), **kwargs)
    if kwargs.get("cache"):
      for _ in ds:  # fill the cache
        pass
    start = time.perf_counter()
    count = sum(int(b["colour_field"].shape[0]) for b in ds)
    elapsed = time.perf_counter() - start
    print(f"{name:28s} {count / elapsed:8.1f} images/s ({count} in {elapsed:.1f} s)")


if __name__ == "__main__":
  app.run(main)

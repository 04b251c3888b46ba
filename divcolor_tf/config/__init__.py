"""The config layer (``from divcolor_tf import config as config_lib``): the schema every dataset
config in ``configs/`` builds on, the variants registry, and configs on disk.

Each file in ``configs/`` exposes ``get_config(arg=None)`` returning an
``ml_collections.ConfigDict`` built from :func:`base_config`; ``arg="tiny"`` gives the tiny twin
(same schema, sizes small enough for a test on two CPU cores). Command-line tools load a config
with absl's ``config_flags`` (``--config configs/lfw.py:tiny --config.vae.epochs=3``) and write
the resolved config beside their outputs with :func:`save_resolved`.

  schema    base_config (the paper's settings: train, what every stage shares; each stage's
            schedule and optimizer in its own section, STAGES / SCHEDULE), field / lookup (a
            field with its default), validate (every field's range, before a run writes
            anything: ConfigError), MOVED / migrate (an older layout's fields, where they went)
  variants  tiny, cpu, cpu_skip, skip, authors, the loss ablations; VARIANTS, apply_variants
  files     load (a configs/*.py[:variants] with key=value overrides), save_resolved /
            load_resolved (config.json), check_resume (a resume keeps SHAPE_FIELDS)

``shared_data`` / ``shared_source`` (the project's ../shared/data, and ``shared:`` names for it)
are the data layer's (:mod:`divcolor_tf.data.sources`), re-exported here for config files.
"""

from divcolor_tf.config.files import (
    SHAPE_FIELDS, check_resume, load, load_resolved, save_resolved, set_path)
# The shared data folder, as dataset configs name it (the data layer owns sources; no TensorFlow).
from divcolor_tf.data.sources import SHARED, shared_data, shared_source
from divcolor_tf.config.schema import (
    DEFAULT_K, GREY_TRUNKS, MOVED, PAPER, SCHEDULE, STAGES, ConfigError, base_config, field, lookup,
    migrate, validate)
from divcolor_tf.config.variants import (
    ABLATIONS, VARIANTS, apply_variants, authors, cpu, cpu_skip, settings, skip, tiny)

__all__ = [
    "SHAPE_FIELDS", "check_resume", "load", "load_resolved", "save_resolved", "set_path", "SHARED", "shared_data", "shared_source", "DEFAULT_K", "GREY_TRUNKS", "MOVED", "PAPER", "SCHEDULE", "STAGES", "ConfigError",
    "base_config", "field", "lookup", "migrate", "validate", "ABLATIONS", "VARIANTS", "apply_variants", "authors", "cpu", "cpu_skip",
    "settings", "skip", "tiny",
]

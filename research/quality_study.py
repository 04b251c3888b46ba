r"""The error-budget study of docs/quality.md: VAE variants at an equal small budget, scored alike.

  python research/quality_study.py                          # every experiment of EXPERIMENTS
  python -c "from divcolor_tf import exported; exported.unpack('saved_models/divcolor_lfw', 'workdirs/v3')"
  python research/quality_study.py --experiments skip3,skip3_kl_high --table3 \
      --features_from workdirs/v3 --stats workdirs/v3/stats.npz

Each experiment is a list of config variants (configs/lfw.py: ``cpu`` plus ``study`` -- a
quarter-width VAE trained one epoch -- and the one change under test), trained with
``divcolor-train-vae`` into WORKDIRS/<name> (resumable: a finished run is not retrained), then
scored on the validation split: Table 1 (abs. error All, decoder fed the encoder's mean), the
loss-term shares, the KL per example and the number of active latent dimensions
(``tables.evaluate_vae(..., budget=True)``). With ``--table3``, each also gets an MDN
(``--mdn_epochs`` epochs, G and posteriors cached) on the grey feature trunk copied from
``--features_from``, and Table 3 on the validation split (error-of-best of the top 5, variance,
chroma and spatial-variation ratios, and palette-5). Prints a markdown table and writes
WORKDIRS/results.json. Not a test: the figures go in docs/quality.md.
"""

import json
import os
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name -> config variants after "configs/lfw.py:" (each changes one thing against a neighbour).
EXPERIMENTS = {
    "plain_all": "cpu,study",  # the paper's decoder and full loss (the v1 bundled model's recipe)
    "plain_nomah": "cpu,study,nomah",
    "skip_all": "cpu,study,skip",
    "skip_nomah": "cpu,study,skip,nomah",  # the v2 recipe's loss, at the study's budget
    "skip_nomah_reflect": "cpu,study,skip,nomah,reflect",
    "skip_l2": "cpu,study,skip,l2",
    "skip_nomah_kl_low": "cpu,study,skip,nomah,kl_low",
    "skip_nomah_kl_high": "cpu,study,skip,nomah,kl_high",
    "skip_nomah_lr_high": "cpu,study,skip,nomah,lr_high",
    # What z carries (docs/quality.md §7-8): the bundled recipe's loss at 3 epochs, with the
    # paper's KL weight and with a 10x stronger one from the start.
    "skip3": "cpu,study3,skip,nomah,reflect",
    "skip3_kl_high": "cpu,study3,skip,nomah,reflect,kl_high",
}

NAMES = flags.DEFINE_list("experiments", list(EXPERIMENTS), "which experiments, in order")
WORKDIRS = flags.DEFINE_string("workdirs", "workdirs/study", "one workdir per experiment below")
STATS = flags.DEFINE_string("stats", "workdirs/v3/stats.npz",
                            "a stats.npz of the training split to share (skips recomputing it)")
TABLE3 = flags.DEFINE_bool("table3", False, "also train an MDN per experiment and score Table 3")
FEATURES_FROM = flags.DEFINE_string("features_from", "workdirs/v3",
                                    "a workdir whose features/ (the grey trunk) the MDNs share; "
                                    "workdirs/v3: the bundled model unpacked (docstring)")
MDN_EPOCHS = flags.DEFINE_integer("mdn_epochs", 3, "MDN epochs per experiment (--table3)")


def _tool(name):
  script = os.path.join(os.path.dirname(sys.executable), name)
  return [script] if os.path.exists(script) else [sys.executable, "-m",
                                                  "divcolor_tf.bin." + name[9:].replace("-", "_")]


def _run(args, log):
  start = time.time()
  with open(log, "a") as f:
    subprocess.run(args, check=True, stdout=f, stderr=subprocess.STDOUT)
  return time.time() - start


def main(argv):
  del argv
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import tables  # pylint: disable=g-import-not-at-top
  from divcolor_tf import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  results_path = os.path.join(WORKDIRS.value, "results.json")
  results = {}
  if os.path.isfile(results_path):
    with open(results_path) as f:
      results = json.load(f)
  for name in NAMES.value:
    variants = EXPERIMENTS[name]
    workdir = os.path.join(WORKDIRS.value, name)
    os.makedirs(workdir, exist_ok=True)
    log = os.path.join(workdir, "study.log")
    if STATS.value and not os.path.exists(os.path.join(workdir, workdir_lib.STATS)):
      shutil.copyfile(STATS.value, os.path.join(workdir, workdir_lib.STATS))
    row = results.get(name, {"variants": variants})
    if not os.path.exists(os.path.join(workdir, workdir_lib.DECODER)):
      row["vae_seconds"] = _run(_tool("divcolor-train-vae") + [
          "--config", f"configs/lfw.py:{variants}", "--workdir", workdir, "--verbose", "2"], log)
    config = workdir_lib.load_config(workdir)
    _, val_paths = data.config_paths(config.data)
    rows, _, _, budget = tables.evaluate_vae(workdir, val_paths, budget=True)
    row.update(table1_abs_all=dict(rows)["model"]["abs_all"],
               kl_per_example=budget["kl_per_example"], active_dims=budget["active_dims"],
               shares={k: v["share"] for k, v in budget["terms"].items()})
    if TABLE3.value:
      features = os.path.join(workdir, workdir_lib.FEATURES_DIR)
      if not os.path.exists(features):
        shutil.copytree(os.path.join(FEATURES_FROM.value, workdir_lib.FEATURES_DIR), features)
      if not os.path.exists(os.path.join(workdir, workdir_lib.MDN)):
        row["mdn_seconds"] = _run(_tool("divcolor-train-mdn") + [
            "--config", f"configs/lfw.py:{variants}", "--workdir", workdir, "--verbose", "2",
            f"--config.mdn.epochs={MDN_EPOCHS.value}"], log)
      table3, _, _ = tables.evaluate_colorize(workdir, val_paths, k=5)
      table3 = dict(table3)
      model = next(v for k, v in table3.items() if "this model" in k)
      row.update(table3=model, palette5=table3["palette-5 (photo-blind)"]["eob"],
                 oracle=next(v["eob"] for k, v in table3.items() if k.startswith("oracle")))
    results[name] = row
    os.makedirs(WORKDIRS.value, exist_ok=True)
    with open(results_path + ".partial", "w") as f:
      json.dump(results, f, indent=2)
    os.replace(results_path + ".partial", results_path)
    print(name, json.dumps(row), flush=True)

  print("\n| experiment | variants | VAE s | Table 1 abs All | KL/example | active dims | "
        "Table 3 eob | variance | chroma | spatial | oracle | palette-5 |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|")
  for name in NAMES.value:
    r = results.get(name, {})
    t3 = r.get("table3", {})
    cells = [f"{r.get('vae_seconds', float('nan')):.0f}", f"{r.get('table1_abs_all', float('nan')):.4f}",
             f"{r.get('kl_per_example', float('nan')):.3g}", str(r.get("active_dims", "")),
             f"{t3.get('eob', float('nan')):.4f}", f"{t3.get('variance', float('nan')):.2e}",
             f"{t3.get('chroma_ratio', float('nan')):.2f}", f"{t3.get('spatial_ratio', float('nan')):.2f}",
             f"{r.get('oracle', float('nan')):.4f}", f"{r.get('palette5', float('nan')):.4f}"]
    print(f"| {name} | `{r.get('variants', '')}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  app.run(main)

"""Training beyond one device and one process (training/strategy.py, training/loop.py); faults
and precisions: tests/training/test_distributed_faults.py.

Every stage of the tiny config (VAE, features, MDN, joint, CVAE, cGAN) is trained three ways, each
in processes of its own (tests/distributed_run.py): alone on one device (the reference), by two
worker processes on loopback under ``train.strategy=multi_worker`` (free ports picked at run time),
and by one process over 2 logical CPU devices under ``mirrored``. The same global batches, the
noise drawn for the global batch and batch norm synchronised over the replicas make the three the
same run: measured here, the weights agree to 3e-6 (VAE, features, MDN, joint, CVAE; most to
3e-7), and the cGAN's to 1e-5 but for a few hundred of its 154,000 weights (biases that feed a
batch norm, whose gradient is zero in exact arithmetic: Adam's normalised step turns float noise of
either sign into a step of +-lr), which stay within 2 lr per step.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

RUN = ROOT / "tests" / "distributed_run.py"
STAGES = "vae,features,mdn,joint,cvae,cgan"
QUIET = ("train.image_summaries=0",)  # no TensorBoard pictures: the same weights, less tracing
TOLERANCE = 1e-5  # |weight difference|, measured <= 3e-6 (module docstring)
ADAM_NOISE_SHARE = 0.005  # of a network's weights allowed past it (cGAN measured: 0.13%)


def cluster():
  """Two workers' TF_CONFIG values on free loopback ports, and the second worker's port."""
  from divcolor_tf.training import strategy  # pylint: disable=g-import-not-at-top
  configs = strategy.loopback_cluster(2)
  return configs, int(json.loads(configs[0])["cluster"]["worker"][1].rpartition(":")[2])


def env(**extra):
  environ = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  environ.pop("TF_CONFIG", None)
  environ.update(extra)
  return environ


def run_command(workdir, data, stages, settings=(), dump=True):
  command = [sys.executable, str(RUN), "--workdir", str(workdir), "--data", str(data),
             "--stages", stages]
  for setting in settings:
    command += ["--setting", setting]
  if dump:
    command += ["--dump", f"{workdir}.npz"]
  return command


def start_workers(command, **extra):
  return [subprocess.Popen(command, env=env(TF_CONFIG=config, **extra), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
          for config in cluster()[0]]


def finish(processes, timeout=600):
  results = []
  for p in processes:
    out, err = p.communicate(timeout=timeout)
    results.append((p.returncode, out, err))
  for code, _, err in results:
    assert code == 0, err[-3000:]
  return results


def compare(reference, other, *, lr_steps=None):
  """{network: (max |difference|, share of weights past TOLERANCE)} of two dumps."""
  a, b = np.load(reference), np.load(other)
  assert sorted(a.files) == sorted(b.files)
  worst = {}
  for key in a.files:
    network = key.split("/")[0]
    if network == "moved" or not a[key].size:
      continue
    diff = np.abs(a[key].astype(np.float64) - b[key])
    top, past, count = worst.get(network, (0.0, 0, 0))
    worst[network] = (max(top, float(diff.max())), past + int((diff > TOLERANCE).sum()),
                      count + diff.size)
  return {k: (top, past / count) for k, (top, past, count) in worst.items()}


def assert_same_run(reference, other, lr_bound):
  moved = np.load(reference)
  for stage in STAGES.split(","):  # each trained: its weights moved far past the tolerance
    assert moved[f"moved/{stage}"] > 100 * TOLERANCE, (stage, float(moved[f"moved/{stage}"]))
  for network, (top, share) in compare(reference, other).items():
    if network.startswith("cgan:"):  # module docstring: Adam on zero-gradient biases
      assert share <= ADAM_NOISE_SHARE and top <= lr_bound, (network, top, share)
    else:
      assert top <= TOLERANCE, (network, top, share)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, lfw_ci, stats_setting):
  """Every stage alone on one device (the default strategy, Keras' fit; the pictures off, which
  changes no weight)."""
  workdir = tmp_path_factory.mktemp("distributed") / "single"
  subprocess.run(run_command(workdir, lfw_ci, STAGES, QUIET + (stats_setting,)), env=env(),
                 check=True, capture_output=True, timeout=600)
  return workdir


CGAN_LR_BOUND = 2 * 2e-4 * 2  # 2 lr per step (cgan.learning_rate 2e-4), 2 steps


def test_two_workers_train_every_stage_as_one_process(reference, lfw_ci, tmp_path, stats_setting):
  workdir = tmp_path / "two_workers"
  command = run_command(workdir, lfw_ci, STAGES, ["train.strategy=multi_worker",  # pictures on
                                                  stats_setting])
  finish(start_workers(command))
  assert_same_run(f"{reference}.npz", f"{workdir}.npz", CGAN_LR_BOUND)
  # One complete workdir, written by the chief alone; the other worker's folder is gone.
  for name in ("encoder.keras", "decoder.keras", "features/trunk.keras", "mdn/mdn.keras",
               "joint/decoder.keras", "cvae/cvae_decoder.keras", "cgan/generator.keras",
               "history.csv", "mdn/history.csv", "config.json", "checkpoints/state.json"):
    assert (workdir / name).is_file(), name
  # TensorBoard: one event file per folder, the chief's (the other worker's went to its own).
  folders = {}
  for events in workdir.rglob("events.out.tfevents.*"):
    folders.setdefault(events.parent, []).append(events.name)
  assert folders and all(len(names) == 1 for names in folders.values()), folders


def test_mirrored_over_two_cpu_devices_trains_every_stage_as_one_device(reference, lfw_ci,
                                                                          tmp_path, stats_setting):
  workdir = tmp_path / "mirrored"
  subprocess.run(run_command(workdir, lfw_ci, STAGES, [
      "train.strategy=mirrored", "train.cpu_devices=2", "train.num_devices=2", *QUIET,
      stats_setting]),
                 env=env(), check=True, capture_output=True, timeout=600)
  assert_same_run(f"{reference}.npz", f"{workdir}.npz", CGAN_LR_BOUND)

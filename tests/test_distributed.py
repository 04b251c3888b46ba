"""Training beyond one device and one process (training/strategy.py, training/loop.py).

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
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
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
def reference(tmp_path_factory, lfw_ci):
  """Every stage alone on one device (the default strategy, Keras' fit; the pictures off, which
  changes no weight)."""
  workdir = tmp_path_factory.mktemp("distributed") / "single"
  subprocess.run(run_command(workdir, lfw_ci, STAGES, QUIET), env=env(), check=True,
                 capture_output=True, timeout=600)
  return workdir


CGAN_LR_BOUND = 2 * 2e-4 * 2  # 2 lr per step (cgan.learning_rate 2e-4), 2 steps


def test_two_workers_train_every_stage_as_one_process(reference, lfw_ci, tmp_path):
  workdir = tmp_path / "two_workers"
  command = run_command(workdir, lfw_ci, STAGES, ["train.strategy=multi_worker"])  # pictures on
  finish(start_workers(command))
  assert_same_run(f"{reference}.npz", f"{workdir}.npz", CGAN_LR_BOUND)
  # One complete workdir, written by the chief alone; the other worker's folder is gone.
  for name in ("encoder.keras", "decoder.keras", "features/trunk.keras", "mdn/mdn.keras",
               "joint/decoder.keras", "cvae/cvae_decoder.keras", "cgan/generator.keras",
               "history.csv", "mdn/history.csv", "config.json", "checkpoints/state.json"):
    assert (workdir / name).is_file(), name


def test_mirrored_over_two_cpu_devices_trains_every_stage_as_one_device(reference, lfw_ci,
                                                                          tmp_path):
  workdir = tmp_path / "mirrored"
  subprocess.run(run_command(workdir, lfw_ci, STAGES, [
      "train.strategy=mirrored", "train.cpu_devices=2", "train.num_devices=2", *QUIET]),
                 env=env(), check=True, capture_output=True, timeout=600)
  assert_same_run(f"{reference}.npz", f"{workdir}.npz", CGAN_LR_BOUND)


def _vae_weights(workdir):
  import keras  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import vae  # pylint: disable=g-import-not-at-top,unused-import
  return [w for name in ("encoder.keras", "decoder.keras")
          for w in keras.saving.load_model(workdir / name, compile=False).get_weights()]


def test_the_command_line_with_two_workers_leaves_one_workdir(reference, lfw_ci, tmp_path):
  """The issue's command: divcolor-train-vae, two TF_CONFIG workers, one --workdir."""
  workdir = tmp_path / "cli"
  command = [sys.executable, str(ROOT / "bin" / "train_vae.py"), "--config",
             f"{ROOT}/configs/lfw.py:tiny", "--workdir", str(workdir),
             f"--config.data.train={lfw_ci}", "--config.train.strategy=multi_worker"]
  temp = pathlib.Path(os.environ.get("TMPDIR", "/tmp"))
  before = set(temp.glob("divcolor-worker*"))
  finish(start_workers(command))
  assert set(temp.glob("divcolor-worker*")) == before  # worker 1's copies removed
  for mine, theirs in zip(_vae_weights(workdir), _vae_weights(reference)):
    np.testing.assert_allclose(mine, theirs, atol=TOLERANCE, rtol=0)
  assert sorted(os.listdir(workdir)) == sorted(
      ["checkpoints", "config.json", "decoder.keras", "encoder.keras", "history.csv",
       "history.png", "stats.npz", "tensorboard"])


def test_a_killed_worker_stops_the_job_in_one_line_and_a_restart_resumes(lfw_ci, tmp_path):
  settings = ["train.steps_per_epoch=16", "train.checkpoint_steps=4", *QUIET]
  single = tmp_path / "single"
  subprocess.run(run_command(single, lfw_ci, "vae", settings), env=env(), check=True,
                 capture_output=True, timeout=600)
  workdir = tmp_path / "killed"
  command = run_command(workdir, lfw_ci, "vae", settings + ["train.strategy=multi_worker"])
  workers = start_workers(command)
  state = workdir / "checkpoints" / "state.json"
  deadline = time.time() + 300
  while time.time() < deadline:
    try:
      if json.loads(state.read_text())["step"] >= 8:
        break
    except (OSError, ValueError, KeyError):
      pass
    assert workers[0].poll() is None, workers[0].communicate()[1][-2000:]
    time.sleep(0.05)
  workers[1].send_signal(signal.SIGKILL)
  start = time.time()
  _, err = workers[0].communicate(timeout=120)
  workers[1].communicate()
  assert workers[0].returncode == 3 and time.time() - start < 60
  last = err.strip().splitlines()[-1]
  assert "worker 1 at localhost:" in last and "stopped answering" in last, last
  assert "resumes from the chief's newest checkpoint" in last, last
  resumed_from = json.loads(state.read_text())["step"]
  assert 0 < resumed_from < 16
  finish(start_workers(command))
  assert np.load(f"{single}.npz")["moved/vae"] > 100 * TOLERANCE
  for network, (top, _) in compare(f"{single}.npz", f"{workdir}.npz").items():
    assert top <= TOLERANCE, (network, top)


def _one_line(command, environ, timeout=120):
  done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=timeout)
  lines = [line for line in done.stderr.strip().splitlines() if line.startswith("train_vae.py:")]
  assert done.returncode != 0 and lines, done.stderr[-2000:]
  assert "Traceback" not in done.stderr, done.stderr[-2000:]
  return lines[-1]


def test_a_mis_set_cluster_is_one_line(lfw_ci, tmp_path):
  base = [sys.executable, str(ROOT / "bin" / "train_vae.py"), "--config",
          f"{ROOT}/configs/lfw.py:tiny", f"--config.data.train={lfw_ci}"]
  configs, peer_port = cluster()
  first = configs[0]
  # A TF_CONFIG cluster without train.strategy=multi_worker: not a silent single-process run.
  line = _one_line(base + ["--workdir", str(tmp_path / "a")], env(TF_CONFIG=first))
  assert "TF_CONFIG names a cluster of 2 training tasks" in line and "multi_worker" in line
  # More devices than visible.
  line = _one_line(base + ["--workdir", str(tmp_path / "b"), "--config.train.strategy=mirrored",
                           "--config.train.num_devices=2"], env())
  assert "train.num_devices=2 but this process sees 1 CPU device(s)" in line
  assert "--config.train.cpu_devices=2" in line
  # multi_worker without a cluster.
  line = _one_line(base + ["--workdir", str(tmp_path / "c"),
                           "--config.train.strategy=multi_worker"], env())
  assert "reads its cluster from TF_CONFIG, which is not set" in line
  # A peer that never comes: one line once train.cluster_timeout has passed.
  start = time.time()
  line = _one_line(base + ["--workdir", str(tmp_path / "d"), "--config.train.strategy=multi_worker",
                           "--config.train.cluster_timeout=4"], env(TF_CONFIG=first))
  assert time.time() - start < 90
  assert "the cluster did not form within 4 s" in line, line
  assert f"no answer from worker 1 at localhost:{peer_port}" in line, line
  assert not (tmp_path / "d" / "checkpoints").exists()


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_every_stage_trains_in_each_precision(lfw_ci, tmp_path, precision):
  workdir = tmp_path / precision
  subprocess.run(run_command(workdir, lfw_ci, STAGES, [f"train.precision={precision}", *QUIET]),
                 env=env(), check=True, capture_output=True, timeout=600)
  weights = np.load(f"{workdir}.npz")
  assert all(np.all(np.isfinite(weights[k])) for k in weights.files)
  for history in ("history.csv", "mdn/history.csv", "joint/history.csv", "cvae/history.csv",
                  "cgan/history.csv"):
    rows = (workdir / history).read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    assert np.isfinite(float(last[header.index("loss")])), (history, rows[-1])
  config = json.loads((workdir / "config.json").read_text())
  assert config["train"]["precision"] == precision

"""Training beyond one process, when things go wrong, and in each precision: a worker killed
mid-epoch, a mis-set cluster, every stage under mixed_bfloat16 and mixed_float16 (the helpers and
the measured tolerances: tests/test_distributed.py)."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from test_distributed import (QUIET, ROOT, STAGES, TOLERANCE, cluster, compare, env, finish,
                              run_command, start_workers)


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

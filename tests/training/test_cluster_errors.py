"""A mis-set multi-worker job is one line and exit status 1 (issue 47, rows 15 and 20), with real
worker processes on loopback: TF_CONFIG without its task's index; the worker's own port taken;
two processes both started as worker 0; workers started with different configs; a peer that
accepts connections but is no TensorFlow worker (was "every peer answers, but not every one
joined", exit 137). Each was a TensorFlow traceback ("Could not start gRPC server" names no port)
or a SIGKILL."""

import json
import socket
import subprocess
import sys
import time

from test_distributed import ROOT, cluster, env

PROG = "train_vae.py"


def _command(workdir, lfw_ci, *settings):
  return [sys.executable, str(ROOT / "bin" / "train_vae.py"), "--config",
          f"{ROOT}/configs/lfw.py:tiny", "--workdir", str(workdir), f"--config.data.train={lfw_ci}",
          "--config.train.strategy=multi_worker", *[f"--config.{s}" for s in settings]]


def _last_line(done):
  """The one line a failed run ends with (exit status 1, no traceback)."""
  assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
  assert "Traceback" not in done.stderr, done.stderr[-3000:]
  return done.stderr.strip().splitlines()[-1]


def _run(command, tf_config, timeout=300):
  return subprocess.run(command, env=env(TF_CONFIG=tf_config), capture_output=True, text=True,
                        timeout=timeout)


def _port(tf_config, index):
  return int(json.loads(tf_config)["cluster"]["worker"][index].rpartition(":")[2])


def test_tf_config_without_the_task_index_is_one_line(lfw_ci, tmp_path):
  configs, _ = cluster()
  value = json.loads(configs[0])
  del value["task"]["index"]
  line = _last_line(_run(_command(tmp_path / "w", lfw_ci), json.dumps(value)))
  assert line.startswith(f"{PROG}: TF_CONFIG: task.index missing: each worker's TF_CONFIG names "
                         "its own task"), line
  assert not (tmp_path / "w").exists()


def test_the_workers_own_port_taken_is_one_line_naming_the_port(lfw_ci, tmp_path):
  configs, _ = cluster()
  port = _port(configs[0], 0)
  with socket.create_server(("localhost", port)):  # another program holds worker 0's port
    line = _last_line(_run(_command(tmp_path / "w", lfw_ci), configs[0]))
  assert line == (f"{PROG}: TF_CONFIG: port {port} of worker 0's address localhost:{port} is "
                  "already in use on this machine (another program, or another process started "
                  "as worker 0); each worker needs a free port of its own"), line


def test_two_processes_both_worker_0_the_second_is_one_line(lfw_ci, tmp_path):
  configs, _ = cluster()
  port = _port(configs[0], 0)
  first = subprocess.Popen(_command(tmp_path / "a", lfw_ci, "train.cluster_timeout=120"),
                           env=env(TF_CONFIG=configs[0]), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 120
    while True:  # the first one's TensorFlow server is up, waiting for worker 1
      assert first.poll() is None and time.time() < deadline, first.stderr.read()[-3000:]
      try:
        socket.create_connection(("localhost", port), timeout=1).close()
        break
      except OSError:
        time.sleep(0.2)
    line = _last_line(_run(_command(tmp_path / "b", lfw_ci), configs[0]))
    assert f"TF_CONFIG: port {port} of worker 0's address localhost:{port} is already in use" in (
        line) and "another process started as worker 0" in line, line
    assert first.poll() is None  # the first one is left alone
  finally:
    first.kill()
    first.communicate()


def test_a_peer_that_accepts_but_is_no_worker_is_named_and_the_timeout_exits_1(lfw_ci, tmp_path):
  configs, peer_port = cluster()
  with socket.create_server(("localhost", peer_port)):  # accepts connections, never answers
    start = time.time()
    line = _last_line(_run(_command(tmp_path / "w", lfw_ci, "train.cluster_timeout=4"),
                           configs[0]))  # exit status 1: was 137 (SIGKILL)
  assert time.time() - start < 120
  assert line.startswith(f"{PROG}: TF_CONFIG: the cluster did not form within 4 s "
                         "(train.cluster_timeout): "), line
  assert (f"worker 1 at localhost:{peer_port}: a connection is accepted, but no TensorFlow worker "
          "answers on it") in line, line
  assert "every peer answers" not in line


def test_workers_with_different_configs_each_say_which_fields(lfw_ci, tmp_path):
  configs, _ = cluster()
  workdir = tmp_path / "w"
  workers = [subprocess.Popen(_command(workdir, lfw_ci, f"vae.batch_size={size}"),
                              env=env(TF_CONFIG=config), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for config, size in zip(configs, (8, 4))]
  for worker, size, index in zip(workers, (8, 4), (0, 1)):
    out, err = worker.communicate(timeout=300)
    line = _last_line(subprocess.CompletedProcess(worker.args, worker.returncode, out, err))
    assert line == (f"{PROG}: {workdir}: the workers run different configs: vae.batch_size="
                    f"{size} here (worker {index} of 2) differ on another worker; start every "
                    "worker with the same command (only TF_CONFIG's task differs)"), line
  assert not (workdir / "checkpoints").exists()

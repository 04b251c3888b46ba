"""The device strategy, the cluster and the precision policy every trainer runs under.

``train.strategy`` picks one of tf.distribute's strategies:

  default       tf.distribute's default strategy: this process, one device (the first GPU if
                any, else the CPU).
  mirrored      MirroredStrategy over ``train.num_devices`` devices of this process (0: all; the
                GPUs, else the CPU's logical devices: ``train.cpu_devices`` splits the CPU into
                that many, for tests on a machine without GPUs).
  multi_worker  MultiWorkerMirroredStrategy over the cluster of ``TF_CONFIG`` (every GPU of every
                worker, or each worker's CPU); batch norm is synchronised over all replicas.

One code path for all three: trainers build their models inside ``strategy.scope()`` and average
per-example losses over the GLOBAL batch (``tf.nn.compute_average_loss``); the gradients are
all-reduced. Each stage's ``batch_size`` (``vae.batch_size``, ...) is always the global batch.

Multi-worker roles, the TensorFlow way: the chief (TF_CONFIG's ``chief`` task, else worker 0)
writes the workdir; every other worker reads it (the chief's checkpoints, the earlier stages'
networks, stats.npz) but writes to a temporary folder of its own (:func:`writable`), removed when
its stage ends. The workdir must therefore be one folder every worker sees (shared storage).
A worker that does not join within ``train.cluster_timeout`` seconds (exit status 1, the line
telling a peer nothing answers for from one that answers but is no TensorFlow worker), or one that
stops answering during training (exit status 3, :class:`PeerWatch`), ends every other worker with
one line, instead of the collective that would wait for it forever; restarting every worker with
the same command resumes from the chief's newest checkpoint. What TensorFlow reports as a
traceback is checked first, each one line: TF_CONFIG's task without its type or index, this
task's own port already taken (another program, or a second process started as the same task),
and, once the cluster has formed, workers started with different configs (``differing``).

``train.precision`` is Keras' dtype policy: float32, mixed_bfloat16 (bf16 compute, float32
variables) or mixed_float16 (float16 compute with dynamic loss scaling, which Keras' compile
adds; the cGAN's second optimizer is wrapped by its trainer). The models' output layers and every
loss are float32 (they cast).
"""

import atexit
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import NamedTuple

from absl import logging
import keras
import tensorflow as tf

from divcolor_tf.config import schema
from divcolor_tf.config.schema import PRECISIONS, STRATEGIES
CHIEF_JOBS = ("chief", "worker")  # the tasks that train; "ps" and "evaluator" do not


class ClusterError(schema.ConfigError):
  """A mis-set strategy or cluster (TF_CONFIG, device counts); str(error) is one line (the
  command lines print it as every ConfigError, without a traceback)."""


class Role(NamedTuple):
  """This process's place in the job."""
  task_type: str = "worker"
  task_index: int = 0
  tasks: int = 1  # training tasks in the cluster (chief + workers)
  chief: bool = True

  def __str__(self):
    return f"{self.task_type} {self.task_index} of {self.tasks}"


# The multi-worker strategy of this process, its TF_CONFIG (as JSON), its role, the other
# training tasks [(job, index, address)] and the non-chief's temporary folder.
_STATE = {"strategy": None, "key": None, "role": Role(), "peers": [], "temp": None}


def split_cpu(n):
  """Splits the physical CPU into n logical devices (before TensorFlow initialises its devices).

  Raises:
    ClusterError: the devices are already initialised with another count.
  """
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
  except RuntimeError:  # "Virtual devices cannot be modified after being initialized"
    have = len(tf.config.list_logical_devices("CPU"))
    if have != n:
      raise ClusterError(
          f"train.cpu_devices={n}: TensorFlow already runs on {have} CPU device(s) in this "
          "process; split the CPU before anything else uses TensorFlow") from None


def tf_config(environ=None):
  """TF_CONFIG as a dict ({"cluster": {job: [address, ...]}, "task": {"type", "index"}}), or None.

  Raises:
    ClusterError: TF_CONFIG is not JSON, its task lacks its type or index, or names a task
      outside its cluster.
  """
  text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
  if not text:
    return None
  try:
    value = json.loads(text)
    cluster = {str(job): [str(a) for a in addresses]
               for job, addresses in dict(value.get("cluster") or {}).items()}
    task = dict(value.get("task") or {})
    missing = [key for key in ("type", "index") if key not in task]
    index = task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, (int, str)):
      raise TypeError(f"task index {index!r} is not a number")
    task = {"type": str(task.get("type", "worker")), "index": int(index)}
  except (ValueError, TypeError, AttributeError) as e:
    raise ClusterError(f"TF_CONFIG is not a cluster description ({type(e).__name__}: "
                       f"{' '.join(str(e).split())[:120]}); expected "
                       '{"cluster": {"worker": ["host:port", ...]}, '
                       '"task": {"type": "worker", "index": 0}}') from None
  if cluster and missing:  # TensorFlow's own refusal is a traceback
    raise ClusterError(
        f"TF_CONFIG: {' and '.join('task.' + k for k in missing)} missing: each worker's "
        'TF_CONFIG names its own task, e.g. "task": {"type": "worker", "index": 0} (its place '
        "in the cluster's worker list)")
  addresses = cluster.get(task["type"], [])
  if not 0 <= task["index"] < len(addresses):
    raise ClusterError(f"TF_CONFIG: task {task['type']} {task['index']} is not in its cluster "
                       f"({len(addresses)} {task['type']} task(s))")
  return {"cluster": cluster, "task": task}


def training_tasks(config):
  """[(job, index, address)] of a TF_CONFIG's training tasks, the chief first."""
  return [(job, i, address) for job in CHIEF_JOBS
          for i, address in enumerate(config["cluster"].get(job, []))]


def loopback_cluster(n):
  """TF_CONFIG values (JSON strings) of an n-worker cluster on this machine's loopback, one per
  worker, on ports free when it is called (tests, benchmarks, trying multi_worker out)."""
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  workers = [f"localhost:{s.getsockname()[1]}" for s in sockets]
  for s in sockets:
    s.close()
  return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
          for i in range(n)]


def role_of(config):
  """The :class:`Role` a TF_CONFIG (:func:`tf_config`) gives this process."""
  if config is None:
    return Role()
  tasks = training_tasks(config)
  job, index = config["task"]["type"], config["task"]["index"]
  chief = tasks[0][:2] == (job, index) if tasks else True
  return Role(job, index, len(tasks), chief)


def is_chief():
  return _STATE["role"].chief


def writable(path):
  """Where this process writes ``path``: the path itself for the chief (and a single process);
  for another worker the same relative place under its own temporary folder (created on first
  use, removed by :func:`remove_temporary` and at exit; a killed worker's is removed by the
  next process of its task), so only the chief writes the workdir."""
  if is_chief():
    return path
  if _STATE["temp"] is None:
    prefix = f"divcolor-{_STATE['role'].task_type}{_STATE['role'].task_index}-"
    _remove_dead(prefix)
    _STATE["temp"] = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
    atexit.register(remove_temporary)
  local = os.path.join(_STATE["temp"], os.path.abspath(path).lstrip(os.sep))
  os.makedirs(os.path.dirname(local), exist_ok=True)
  return local


def _remove_dead(prefix):
  """Removes the temporary folders (:func:`writable`) of earlier processes of this task that
  ended without removing theirs (a killed worker), named ``<prefix><pid>-*``."""
  root = tempfile.gettempdir()
  for name in os.listdir(root):
    pid = name[len(prefix):].split("-", 1)[0] if name.startswith(prefix) else ""
    if not pid.isdigit() or int(pid) == os.getpid():
      continue
    try:
      os.kill(int(pid), 0)
    except ProcessLookupError:  # its process is gone
      shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    except OSError:  # alive (another user's): not ours to remove
      pass


def remove_temporary():
  """Removes a non-chief worker's temporary folder (:func:`writable`), if it made one."""
  temp, _STATE["temp"] = _STATE["temp"], None
  if temp:
    shutil.rmtree(temp, ignore_errors=True)


def _devices():
  return tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")


def get_strategy(name="default", num_devices=0, cluster_timeout=300.0, environ=None):
  """The tf.distribute strategy ``train.strategy`` names (module docstring).

  Raises:
    ClusterError: one line: more devices asked for than visible, a TF_CONFIG cluster without
      ``multi_worker`` (or ``multi_worker`` without TF_CONFIG), an unknown name.
  """
  if name not in STRATEGIES:
    raise ClusterError(f"train.strategy={name!r}: expected one of {', '.join(STRATEGIES)}")
  cluster = tf_config(environ)
  tasks = len(training_tasks(cluster)) if cluster else 1
  if name != "multi_worker" and tasks > 1:
    raise ClusterError(
        f"TF_CONFIG names a cluster of {tasks} training tasks, but train.strategy={name} trains "
        "in this process alone: set --config.train.strategy=multi_worker (or unset TF_CONFIG)")
  if name == "multi_worker":
    if cluster is None:
      raise ClusterError("train.strategy=multi_worker reads its cluster from TF_CONFIG, which is "
                         "not set (docs/training.md shows one)")
    if num_devices:
      raise ClusterError(f"train.num_devices={num_devices} is for train.strategy=mirrored; a "
                         "multi-worker job uses every GPU of each worker (limit them with "
                         "CUDA_VISIBLE_DEVICES) or its CPU")
    return _multi_worker(cluster, float(cluster_timeout))
  _STATE["role"] = Role()
  devices = _devices()
  if name == "default":
    if num_devices > 1:
      raise ClusterError(f"train.num_devices={num_devices} needs train.strategy=mirrored "
                         "(the default strategy trains on one device)")
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
      logging.warning("%d GPUs are visible but train.strategy=default trains on one: set "
                      "--config.train.strategy=mirrored to use them all", len(gpus))
    return tf.distribute.get_strategy()
  if num_devices:
    if num_devices > len(devices):
      kind = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
      hint = (f"; on a CPU, split it with --config.train.cpu_devices={num_devices}"
              if kind == "CPU" else "")
      raise ClusterError(f"train.num_devices={num_devices} but this process sees "
                         f"{len(devices)} {kind} device(s){hint}")
    devices = devices[:num_devices]
  if tf.config.list_logical_devices("GPU"):
    return tf.distribute.MirroredStrategy([d.name for d in devices])  # NCCL all-reduce
  # On CPU devices NCCL is not available: reduce through one device.
  return tf.distribute.MirroredStrategy(
      [d.name for d in devices], cross_device_ops=tf.distribute.ReductionToOneDevice())


def _multi_worker(cluster, timeout):
  """One MultiWorkerMirroredStrategy per process (a later stage in the same process reuses it)."""
  key = json.dumps(cluster, sort_keys=True)
  if _STATE["strategy"] is not None:
    if _STATE["key"] != key:
      raise ClusterError("TF_CONFIG changed inside one process: a process joins one cluster")
    return _STATE["strategy"]
  me = role_of(cluster)
  peers = [(job, i, a) for job, i, a in training_tasks(cluster) if (job, i) != me[:2]]
  _check_own_port(cluster, me)
  logging.info("multi-worker: %s; waiting up to %.0f s for %s", me, timeout,
               ", ".join(f"{job} {i} at {a}" for job, i, a in peers) or "nobody")
  with _deadline(timeout, peers):
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  _STATE.update(strategy=strategy, key=key, role=me, peers=peers)
  logging.info("multi-worker: %d replicas in sync; this process is %s%s",
               strategy.num_replicas_in_sync, me, " (the chief)" if me.chief else "")
  return strategy


def _check_own_port(cluster, me):
  """Raises ClusterError (one line naming the port) when this task's own TF_CONFIG port is taken
  on this machine: TensorFlow's refusal is a traceback, "Could not start gRPC server", naming no
  port. Two processes started as the same task meet here (the second finds the first's server).
  The probe binds without SO_REUSEPORT, so it fails even where gRPC, which sets that option,
  would share the port with another server and split the cluster's traffic between the two."""
  address = cluster["cluster"][me.task_type][me.task_index]
  port = address.rpartition(":")[2]
  if not port.isdigit():
    raise ClusterError(f"TF_CONFIG: {me.task_type} {me.task_index}'s address {address!r} has no "
                       "port (host:port)")
  for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
    try:
      probe = socket.socket(family, socket.SOCK_STREAM)
    except OSError:  # no IPv6 here
      continue
    try:
      # SO_REUSEADDR, as gRPC: a restarted worker's port may still hold its predecessor's closing
      # connections (TIME_WAIT), which do not stop a server; only a listening socket does.
      probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      probe.bind((host, int(port)))  # every interface, as TensorFlow's server binds
    except OSError as e:
      if e.errno == errno.EADDRINUSE:
        raise ClusterError(
            f"TF_CONFIG: port {port} of {me.task_type} {me.task_index}'s address {address} is "
            f"already in use on this machine (another program, or another process started as "
            f"{me.task_type} {me.task_index}); each worker needs a free port of its own") from None
    finally:
      probe.close()


def _answers(address, timeout=1.0):
  """True when something listens at host:port."""
  host, _, port = address.rpartition(":")
  try:
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
      return True
  except (OSError, ValueError):
    return False


def _answers_within(address, tries, interval):
  """True when ``address`` answers at one of ``tries`` attempts ``interval`` seconds apart."""
  for attempt in range(tries):
    if _answers(address):
      return True
    if attempt + 1 < tries:
      time.sleep(interval)
  return False


def _stderr_fd():
  """The terminal's stderr: a command line routes fd 2 through a filtering thread
  (bin/cli.py), which a process ending at once would not let finish."""
  try:
    fd = int(os.environ.get("DIVCOLOR_STDERR_FD", "2"))
    os.fstat(fd)
    return fd
  except (ValueError, OSError):
    return 2


def _fail(message, code):
  """Ends the process from a watch thread (the main thread is blocked in a collective): one line
  on stderr, the worker's temporary folder removed."""
  prog = os.path.basename(sys.argv[0]) or "divcolor"
  os.write(_stderr_fd(), f"{prog}: {' '.join(message.split())}\n".encode())
  remove_temporary()
  os._exit(code)  # pylint: disable=protected-access


# The cluster's deadline is kept by a small process of its own: while TensorFlow forms the
# cluster it holds the interpreter's lock, so no thread of this process could act in time. At the
# deadline it tells each silent peer's state apart (issue 47, row 20: a peer that could not be
# reached was reported as "every peer answers, but not every one joined"): nothing accepts a
# connection at its address; something accepts one but does not speak HTTP/2 as a TensorFlow
# worker's gRPC server does (a stopped or hung process, a proxy, another program); or a worker's
# server answers but did not join this cluster. It then ends the process with SIGHUP, which the
# parent set to end it with exit status 1 (_exit_on_sighup; SIGKILL, 137, only where it could not).
_WATCHER = r"""
import os, select, signal, socket, sys
parent, timeout, how, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
peers = [peer.rpartition("=") for peer in sys.argv[5:]]  # (name, "=", address)
ready, _, _ = select.select([sys.stdin], [], [], timeout)
if ready:  # the parent formed its cluster ("done") or ended (end of file)
    sys.exit(0)
# The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers with its SETTINGS.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
def state(address):
    host, _, port = address.rpartition(":")
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=2.0)
    except (OSError, ValueError):
        return "closed"
    try:
        conn.settimeout(2.0)
        conn.sendall(PREFACE)
        head = conn.recv(9)
    except OSError:
        head = b""
    finally:
        conn.close()
    return "server" if len(head) >= 4 and head[3] == 4 else "mute"
states = {}
for name, _, address in peers:
    states.setdefault(state(address), []).append(name + " at " + address)
parts = []
if "closed" in states:
    parts.append("no answer from " + ", ".join(states["closed"]) + " (nothing accepts a "
                 "connection there: not started, a wrong address, or unreachable)")
if "mute" in states:
    parts.append(", ".join(states["mute"]) + ": a connection is accepted, but no TensorFlow "
                 "worker answers on it (a stopped or hung process, or another program on that "
                 "port)")
if "server" in states:
    parts.append(", ".join(states["server"]) + ": a TensorFlow worker answers, but did not join "
                 "this cluster (started with another TF_CONFIG?)")
detail = "; ".join(parts) or "every peer's worker answers, yet the cluster did not form"
sys.stderr.write(message.replace("DETAIL", detail) + "\n")
sys.stderr.flush()
# It holds the interpreter's lock: no Python handler would run. SIGHUP runs the C library's
# _exit(1) where the parent set that up (how == "hup"), else SIGKILL.
os.kill(parent, signal.SIGHUP if how == "hup" else signal.SIGKILL)
"""


def _exit_on_sighup():
  """Makes SIGHUP end this process at once with exit status 1, however busy its interpreter is:
  the signal's C handler is the C library's ``_exit``, which the kernel calls with the signal's
  number, SIGHUP's being 1. (A Python handler runs only between bytecodes, never while TensorFlow
  forms a cluster holding the interpreter's lock.) Returns a function that puts the previous
  handler back, or None where this cannot be done (no C library to call: the watcher then ends
  the process with SIGKILL)."""
  import ctypes  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  try:
    libc = ctypes.CDLL(None, use_errno=True)
    exit_now = ctypes.cast(libc._exit, ctypes.c_void_p)  # pylint: disable=protected-access
    install = libc.signal
    install.restype, install.argtypes = ctypes.c_void_p, (ctypes.c_int, ctypes.c_void_p)
  except (OSError, AttributeError, TypeError):
    return None
  if signal.SIGHUP != 1:  # the exit status is the signal's number
    return None
  previous = install(signal.SIGHUP, exit_now)
  if previous == ctypes.c_void_p(-1).value:  # SIG_ERR
    return None
  return lambda: install(signal.SIGHUP, previous)


class _deadline:  # pylint: disable=invalid-name
  """Ends the process with one line and exit status 1 when the cluster has not formed within
  ``timeout`` seconds (a watcher process, :data:`_WATCHER`, prints it and ends the process)."""

  def __init__(self, timeout, peers):
    self.timeout, self.peers = timeout, peers
    self.watcher = None
    self.restore = None

  def __enter__(self):
    if self.timeout > 0:
      prog = os.path.basename(sys.argv[0]) or "divcolor"
      message = (f"{prog}: TF_CONFIG: the cluster did not form within {self.timeout:.0f} s "
                 "(train.cluster_timeout): DETAIL; start every worker with the same command")
      self.restore = _exit_on_sighup()
      self.watcher = subprocess.Popen(
          [sys.executable, "-c", _WATCHER, str(os.getpid()), str(self.timeout),
           "hup" if self.restore else "kill", message]
          + [f"{job} {i}={address}" for job, i, address in self.peers],
          stdin=subprocess.PIPE, stderr=_stderr_fd(), text=True)
    return self

  def __exit__(self, *exc):
    if self.watcher is not None:
      try:
        self.watcher.communicate("done\n", timeout=10)
      except Exception:  # pylint: disable=broad-except
        self.watcher.kill()
    if self.restore is not None:
      self.restore()


class PeerWatch:
  """While training under multi_worker, checks every ``interval`` seconds that each other worker
  still answers at its TF_CONFIG address; after ``misses`` misses in a row this process ends with
  one line (its collectives would otherwise wait for the dead worker forever). A context manager;
  a no-op outside multi-worker jobs."""

  def __init__(self, interval=2.0, misses=3, describe=lambda: ""):
    self.interval, self.misses, self.describe = interval, misses, describe
    self.done = threading.Event()
    self.peers = list(_STATE["peers"])  # those of this process's multi-worker cluster, if any

  def _watch(self):
    missed = {peer: 0 for peer in self.peers}
    while not self.done.wait(self.interval):
      for peer in self.peers:
        missed[peer] = 0 if _answers(peer[2]) else missed[peer] + 1
        if missed[peer] >= self.misses and not self.done.is_set():
          self._stop(peer, f"stopped answering during training "
                           f"({self.misses * self.interval:.0f} s)")

  def _stop(self, peer, what):
    job, i, address = peer
    _fail(f"{job} {i} at {address} {what}; this worker stops too. Restart every worker with the "
          f"same command and --workdir: the job resumes from the chief's newest "
          f"checkpoint{self.describe()}", 3)

  def __enter__(self):
    if self.peers:
      threading.Thread(target=self._watch, daemon=True, name="peer-watch").start()
    return self

  def __exit__(self, kind, value, traceback):
    """Any exception out of training while a peer no longer answers: the peer's end is taken as
    the cause, and the same one line ends this worker. (Measured here: with the watch off, a
    collective that lost its peer hung rather than raising, so this path is a backstop.)"""
    self.done.set()
    if kind is not None and issubclass(kind, Exception) and self.peers:
      for peer in self.peers:
        if not _answers_within(peer[2], self.misses, self.interval):
          self._stop(peer, f"stopped answering during training ({kind.__name__} in a "
                           f"collective)")
    return False


def all_sum(strategy, value):
  """The sum of ``value`` (a number) over every replica of every worker: a collective, so every
  worker must call it at the same point."""
  add = getattr(strategy, "_divcolor_sum", None)
  if add is None:
    add = tf.function(lambda v: strategy.reduce("SUM", strategy.run(tf.identity, (v,)), axis=None))
    strategy._divcolor_sum = add  # pylint: disable=protected-access
  return float(add(tf.constant(value, tf.float64)))


def differing(strategy, values):
  """The names of ``values`` ({name: text}) whose text is not the same on every worker, sorted: a
  collective, so every worker must call it at the same point, with the same names.

  Each text is hashed to 20 bits; over the replicas the values x of one name are all equal
  exactly when n * sum(x^2) == sum(x)^2, and below 2^53 the float64 sums are exact (n < 90
  replicas). Two different texts agree by chance once in a million names."""
  import hashlib  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  names = sorted(values)
  if not names:
    return []
  codes = np.array([int.from_bytes(hashlib.sha256(values[n].encode()).digest()[:3], "big") >> 4
                    for n in names], np.float64)
  add = getattr(strategy, "_divcolor_sum", None)
  if add is None:
    all_sum(strategy, 0.0)  # makes the strategy's sum function
    add = strategy._divcolor_sum  # pylint: disable=protected-access
  sums = add(tf.constant(np.stack([codes, codes ** 2]), tf.float64)).numpy()
  n = strategy.num_replicas_in_sync
  return [name for name, total, squares in zip(names, sums[0], sums[1])
          if n * squares != total ** 2]


def barrier(strategy):
  """Under multi_worker, returns once every worker has reached it (the chief's files are then
  written); a no-op otherwise."""
  if is_multi_worker(strategy):
    all_sum(strategy, 1.0)


def is_multi_worker(strategy):
  return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def precision_of(section, fallback="float32"):
  """A config section's precision: its ``precision`` field ("" : ``fallback``, the MDN's being
  the train section's), mixed_bfloat16 where that is float32 but the older
  ``mixed_precision=True`` is set (configs and workdirs written before ``train.precision``)."""
  name = section.get("precision", "") or fallback
  if section.get("mixed_precision", False) and name in ("", "float32"):
    name = "mixed_bfloat16"
  return name or "float32"


def set_precision(name):
  """Sets Keras' global dtype policy: ``float32``, ``mixed_bfloat16`` or ``mixed_float16`` (a
  bool, as before ``train.precision``: True is mixed_bfloat16)."""
  if isinstance(name, bool) or name is None:
    name = "mixed_bfloat16" if name else "float32"
  if name not in PRECISIONS:
    raise ClusterError(f"precision {name!r}: expected one of {', '.join(PRECISIONS)}")
  keras.mixed_precision.set_global_policy(name)
  return name


def loss_scaled(optimizer):
  """``optimizer`` wrapped in Keras' dynamic loss scaling under mixed_float16 (what compile does
  for a model's own optimizer), unchanged otherwise."""
  if (keras.mixed_precision.global_policy().name == "mixed_float16"
      and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
    return keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


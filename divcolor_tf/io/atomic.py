"""Files that appear under their final name only when complete.

Every file the project writes goes through here. It is written under a temporary name in the same
folder, ``.divcolor-tmp-<pid>-<8 hex digits>-<final name>`` (hidden, and ending in the final name,
or in its end where the whole would be too long a name, so that writers that insist on a suffix
accept it: Keras' ``.keras`` and ``.weights.h5``, Pillow's and matplotlib's ``.png``), flushed to
disk, then renamed to the final name with ``os.replace`` (atomic within one file system, POSIX
and Windows). A reader sees the old file or the new one, never a mix of two writers' bytes; a
writer killed midway leaves at most a hidden temporary file, never a truncated file under the
final name; a writer that raises removes its temporary file. :func:`remove_stale_temps` removes a killed writer's temporaries, and nothing
else: a name of that exact shape, and for a folder the marker file :func:`mark_temp_dir` puts in
it (a user's ``.tmp-*`` files, and earlier versions' ``.tmp-<pid>-*`` temporaries, stay).

``exclusive=True`` is for files two runs may race to create: the complete temporary file is
hard-linked to the final name (``os.link`` fails when the name exists), so the second writer gets
``FileExistsError`` (one line: "<final>: exists") and the first writer's file stays whole. On a
file system without hard links the name is reserved with ``O_CREAT | O_EXCL`` and then replaced:
still exclusive, but for that instant the final name holds an empty file.

:func:`folder_lock` serialises cooperating writers of one folder (``flock`` on the folder itself,
no lock file), so that a group of files, e.g. one photo's colorizations, is installed by one writer
at a time. :func:`publish_dir` does for a folder (an export's version folder) what ``os.replace``
does for a file.

No TensorFlow here: ``config`` imports this module, and importing ``config`` must stay cheap.
"""

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import zipfile

import numpy as np


TEMP_PREFIX = ".divcolor-tmp-"
# What temp_path makes, and all remove_stale_temps removes: group 1 is the writer's pid. (Earlier
# versions wrote ".tmp-<pid>-<random>-<name>", a shape a user's own files can have: left alone.)
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[0-9a-f]{8}-.")
# In a temporary folder (one publish_dir renamed aside): the sweep removes a folder only with it.
TEMP_MARKER = ".divcolor-tmp"
# os.link's errors on a file system that has no hard links (FAT, some network and FUSE mounts).
_NO_HARD_LINKS = frozenset(
    getattr(errno, name) for name in ("EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "EMLINK", "ENOSYS")
    if hasattr(errno, name))


class ExistsError(FileExistsError):
  """The ``FileExistsError`` of an exclusive write that lost: str is one line, "<final>: exists";
  ``filename`` is the final name."""

  def __str__(self):
    return f"{self.filename}: exists"


def exists_error(final):
  return ExistsError(errno.EEXIST, "exists", os.fspath(final))


# The longest file name most file systems take (ext4, XFS, btrfs, tmpfs: 255 bytes).
NAME_MAX = 255


def temp_path(final):
  """A fresh temporary name beside ``final``: ``.divcolor-tmp-<pid>-<random>-<name of final>``,
  the final name cut from its start where the whole would pass :data:`NAME_MAX` bytes (it keeps
  its end, and so the suffix a writer checks): a 240-character output name is written, not
  refused for its temporary's length (issue 47, row 18)."""
  folder, name = os.path.split(os.fspath(final))
  head = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"
  room = NAME_MAX - len(head)
  name = name[-room:]
  while len(os.fsencode(name)) > room:  # multi-byte characters
    name = name[1:]
  return os.path.join(folder, head + name)


def _naming_final(error, temp, final):
  """``error`` (an OSError about the temporary ``temp``) as the same error about ``final``: the
  user named that file, never the hidden temporary (e.g. "File name too long: '<final>'")."""
  if isinstance(error, OSError) and error.errno and temp in (error.filename, error.filename2):
    return type(error)(error.errno, error.strerror, final)
  return None


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except (PermissionError, OverflowError, ValueError):  # another user's process; a foreign name
    return True
  return True


def mark_temp_dir(path):
  """Marks the folder ``path`` (named by :func:`temp_path`) as this project's temporary, which
  :func:`remove_stale_temps` may then remove once its writer is gone."""
  with open(os.path.join(path, TEMP_MARKER), "wb"):
    pass


def remove_stale_temps(folder):
  """Removes the temporary files (and folders) that writers killed midway left in ``folder``:
  those named :func:`temp_path`'s way (a folder only with :func:`mark_temp_dir`'s marker inside)
  whose process is no longer running on this machine. A live writer's are left alone, and so is
  everything else: a user's files, earlier versions' ``.tmp-`` temporaries. Returns the names
  removed."""
  try:
    names = os.listdir(folder)
  except OSError:
    return []
  removed = []
  for name in names:
    match = _TEMP_NAME.match(name)
    if not match:
      continue
    pid, path = int(match.group(1)), os.path.join(folder, name)
    if pid == os.getpid() or _alive(pid) or os.path.islink(path):
      continue
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, TEMP_MARKER)):
      continue
    try:
      remove(path)
      removed.append(name)
    except OSError:  # read-only folder, or removed by another run meanwhile
      pass
  return removed


def remove(path):
  """Removes a temporary file or folder if it is there (after a failure, or a lost race)."""
  try:
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path, ignore_errors=True)
    else:
      os.remove(path)
  except FileNotFoundError:
    pass


def _fsync(path):
  fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def publish(temp, final, exclusive=False):
  """Moves the complete file ``temp`` (from :func:`temp_path`) to ``final``.

  Args:
    temp: the written file, in ``final``'s folder.
    final: its name once complete.
    exclusive: fail rather than replace an existing ``final``.

  Raises:
    FileExistsError: ``exclusive`` and ``final`` exists (``temp`` is left for the caller to
      remove).
  """
  temp, final = os.fspath(temp), os.fspath(final)
  _fsync(temp)  # the bytes reach the disk before the name does: a power cut leaves old or new
  if not exclusive:
    os.replace(temp, final)
    return
  try:
    os.link(temp, final)
  except FileExistsError:
    raise exists_error(final) from None
  except OSError as e:
    if e.errno not in _NO_HARD_LINKS:
      raise
    try:  # no hard links here: reserve the name exclusively, then move the file over it
      os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
      raise exists_error(final) from None
    os.replace(temp, final)
  else:
    os.remove(temp)


@contextlib.contextmanager
def atomic_path(final, exclusive=False):
  """Yields a temporary path beside ``final``; when the block ends without an exception the file
  written there becomes ``final`` (:func:`publish`), and in every case the temporary is gone.

    with atomic.atomic_path("out/stats.npz") as temp, open(temp, "wb") as f:
      np.savez(f, **arrays)
  """
  temp = temp_path(final)
  try:
    yield temp
    publish(temp, final, exclusive)
  except OSError as e:  # named by the final name, as every error of this block
    renamed = _naming_final(e, os.fspath(temp), os.fspath(final))
    if renamed is None:
      raise
    raise renamed from None
  finally:
    remove(temp)


def write_with(write, final, exclusive=False):
  """Calls ``write(temp)`` (e.g. ``model.save``) on a temporary name, then publishes it as
  ``final``; returns ``final``."""
  with atomic_path(final, exclusive) as temp:
    write(temp)
  return final


def write_bytes(final, data, exclusive=False):
  """Writes ``data`` to ``final`` atomically; returns ``final``."""
  with atomic_path(final, exclusive) as temp:
    with open(temp, "xb") as f:
      f.write(data)
  return final


def write_text(final, text, exclusive=False, encoding="utf-8"):
  """Writes ``text`` to ``final`` atomically; returns ``final``."""
  return write_bytes(final, text.encode(encoding), exclusive)


def write_json(final, value, exclusive=False, **dump_args):
  """Writes ``value`` as JSON (``json.dumps(value, **dump_args)``, then a newline) atomically;
  returns ``final``."""
  return write_text(final, json.dumps(value, **dump_args) + "\n", exclusive)


class UnreadableFileError(ValueError):
  """A file the project wrote and reads back (a resolved config, a checkpoint's state or weights,
  an export's metadata) that is damaged: str(error) is one line naming the file and the problem.
  The command lines end with that line."""


def brief(problem, limit=160):
  """An exception's message on one line, at most ``limit`` characters (None: all of it); its
  type's name when it has no message."""
  return " ".join(str(problem).split())[:limit] or type(problem).__name__


def read_json(path, expect=dict):
  """The JSON value in ``path``, which must be an ``expect`` (a dict unless told).

  Raises:
    FileNotFoundError: there is no such file.
    UnreadableFileError: the file cannot be read, is not JSON (truncated, binary, hand-edited) or
      holds another kind of value; one line naming it.
  """
  try:
    with open(path, encoding="utf-8") as f:
      value = json.load(f)
  except FileNotFoundError:
    raise
  except OSError as e:
    raise UnreadableFileError(f"{path}: cannot be read ({e.strerror or brief(e)})") from None
  except ValueError as e:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
    raise UnreadableFileError(f"{path}: not valid JSON ({brief(e)})") from None
  if expect is not None and not isinstance(value, expect):
    raise UnreadableFileError(
        f"{path}: holds a JSON {type(value).__name__}, not the {expect.__name__} expected")
  return value


def read_npz(path):
  """The arrays of the .npz archive ``path``, as a dict; object arrays are never unpickled.

  Raises:
    FileNotFoundError: there is no such file.
    ValueError: the problem in a few words, for the caller to name the file and what it should
      hold: a single .npy array, pickled objects, a truncated or damaged archive.
  """
  try:
    archive = np.load(path, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):  # np.load reads a plain .npy as one array
      raise ValueError("a single array, not an .npz archive")
    with archive:
      return {name: archive[name] for name in archive.files}
  except FileNotFoundError:
    raise
  except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
    problem = brief(e, 120)
    if "allow_pickle" in problem:
      problem = "it holds pickled objects, which are never loaded"
    raise ValueError(problem) from None


def publish_dir(temp_dir, final, overwrite=False):
  """Renames the complete folder ``temp_dir`` (beside ``final``) to ``final``.

  Without ``overwrite`` an existing ``final`` is kept and FileExistsError raised, also when another
  writer created it after the caller last looked. With ``overwrite`` the old folder is renamed
  aside, the new one renamed in, and the old one deleted: ``final`` is missing only between the
  two renames, never half written.

  Raises:
    FileExistsError: one line, ``final`` exists and not ``overwrite``.
  """
  temp_dir, final = os.fspath(temp_dir), os.fspath(final)
  if not overwrite:
    try:
      if os.path.lexists(final):  # os.rename would replace an empty folder
        raise exists_error(final)
      os.rename(temp_dir, final)
    except OSError as e:
      if isinstance(e, FileExistsError) or os.path.lexists(final):
        raise exists_error(final) from None
      raise
    return
  aside = None
  if os.path.lexists(final):
    aside = temp_path(final)
    os.rename(final, aside)
    if os.path.isdir(aside) and not os.path.islink(aside):
      with contextlib.suppress(OSError):  # unmarked, a killed writer's aside copy is kept
        mark_temp_dir(aside)
  try:
    os.rename(temp_dir, final)
  except BaseException:
    if aside:
      with contextlib.suppress(OSError):
        os.rename(aside, final)
        os.remove(os.path.join(final, TEMP_MARKER))
    raise
  if aside:
    remove(aside)


@contextlib.contextmanager
def folder_lock(folder):
  """Holds an exclusive ``flock`` on ``folder`` (no lock file) for the block.

  Only writers that take the same lock wait for each other. Where ``flock`` is missing (Windows)
  or refused (some network file systems) the block runs unlocked; exclusive writes stay exclusive
  there, but concurrent replacing writers are no longer serialised.
  """
  try:
    import fcntl  # pylint: disable=g-import-not-at-top  (POSIX only)
  except ImportError:
    fcntl = None
  fd = None
  if fcntl is not None:
    try:
      fd = os.open(os.fspath(folder) or ".", os.O_RDONLY)
      fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
      if fd is not None:
        os.close(fd)
      fd = None
  try:
    yield
  finally:
    if fd is not None:
      os.close(fd)  # closing the descriptor releases the lock

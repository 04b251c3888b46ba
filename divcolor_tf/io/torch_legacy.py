"""PyTorch's legacy (before 1.6) serialisation of a state dict, read with :mod:`pickle` alone.

The format: five pickles: the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, the
system info ({'little_endian': True, ...}), the state dict (an OrderedDict of tensors: each a
``torch._utils._rebuild_tensor_v2(storage, offset, shape, strides, ...)`` call whose storage is a
persistent id ('storage', torch.FloatStorage, key, 'cpu', size, None)), and the list of storage
keys; then, for each key in that list's order, the storage: an int64 element count and that many
little-endian elements.

The tensors are views of their storages, possibly not contiguous: each is rebuilt from its offset
and strides. The unpickler builds no class but an OrderedDict and these records, so a file that
asks for anything else is refused rather than run.
"""

import collections
import pickle

import numpy as np

_MAGIC = 0x1950a86a20f9469cfc6c  # torch.serialization.MAGIC_NUMBER
_PROTOCOL = 1001
_STORAGE_DTYPES = {  # torch.<Name>Storage -> little-endian numpy dtype
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}

_Storage = collections.namedtuple("_Storage", "key dtype size")
_Tensor = collections.namedtuple("_Tensor", "storage offset shape strides")


class _LegacyUnpickler(pickle.Unpickler):
  """The state-dict pickle, with torch's tensors and storages as plain records (no torch)."""

  def find_class(self, module, name):
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
      return _rebuild_tensor
    if module == "torch" and name in _STORAGE_DTYPES:
      return name
    raise pickle.UnpicklingError(f"unexpected {module}.{name} in a PyTorch state dict")

  def persistent_load(self, pid):
    typename, storage_type, key, _, size = pid[:5]
    if typename != "storage" or (len(pid) > 5 and pid[5] is not None):
      raise pickle.UnpicklingError(f"unsupported PyTorch storage record {pid[:2]}")
    return _Storage(str(key), np.dtype(_STORAGE_DTYPES[storage_type]), int(size))


def _rebuild_tensor(storage, offset, shape, strides, *unused):
  del unused  # requires_grad, backward hooks (and metadata)
  return _Tensor(storage, int(offset), tuple(shape), tuple(strides))


def read_legacy_state_dict(path):
  """A PyTorch legacy-format state dict as {key: numpy array}, in the file's order, no torch.

  Raises:
    ValueError: not a little-endian legacy-format file (e.g. a zip-format .pth of torch >= 1.6).
  """
  with open(path, "rb") as f:
    if f.read(2) == b"PK":
      raise ValueError(f"{path}: a zip-format PyTorch file; only the legacy format is read here")
    f.seek(0)
    # Every pickle through the restricted unpickler: it builds no class but those above.
    if _LegacyUnpickler(f).load() != _MAGIC or _LegacyUnpickler(f).load() != _PROTOCOL:
      raise ValueError(f"{path}: not a PyTorch legacy-format file")
    if not _LegacyUnpickler(f).load().get("little_endian"):
      raise ValueError(f"{path}: written big-endian")
    records = _LegacyUnpickler(f).load()
    of_key = {t.storage.key: t.storage for t in records.values()}
    storages = {}
    for key in _LegacyUnpickler(f).load():
      storage = of_key[key]
      count = int(np.frombuffer(f.read(8), "<i8")[0])
      data = np.frombuffer(f.read(count * storage.dtype.itemsize), storage.dtype)
      if count != storage.size or data.size != count:
        raise ValueError(f"{path}: storage {key} holds {data.size} of {storage.size} elements")
      storages[key] = data
    if f.read(1):
      raise ValueError(f"{path}: bytes after the last storage")
  return collections.OrderedDict((name, _array(storages[t.storage.key], t))
                                 for name, t in records.items())


def _array(data, tensor):
  """The tensor's view of its storage, copied into a C-ordered array."""
  itemsize = data.dtype.itemsize
  last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.strides))
  if min(tensor.shape, default=1) > 0 and last >= data.size:
    raise ValueError(f"a tensor {tensor.shape} reads past its storage of {data.size}")
  view = np.lib.stride_tricks.as_strided(data[tensor.offset:], tensor.shape,
                                         [s * itemsize for s in tensor.strides], writeable=False)
  return np.array(view, order="C")

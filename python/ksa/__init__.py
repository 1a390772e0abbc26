"""ksa: Python bindings (ctypes, no compiled extension) for libksa, the Kascade sparse attention library.

It wraps the context, devices, streams, one attention call and the per-model schedule of
include/ksa/ksa.h. Tensors may be torch tensors, or any object with ``__cuda_array_interface__``
or ``__array_interface__`` (NumPy, CuPy), or an explicit ``(pointer, dtype, shape, strides)``
tuple; ksa's layouts are q/o ``[B, L, Hq, D]`` and k/v ``[B, L, Hkv, D]`` with unit innermost
stride, so torch's ``[B, H, L, D]`` tensors go in as ``x.transpose(1, 2)`` views. PyTorch users
who want torch.compile and CUDA graphs use the custom ops of ``ksa.torch_ops`` instead.

libksa is found by itself (``ksa._library`` says where it looks: ``KSA_LIBRARY``, the build a
package copy came from, the source tree's build folders, an installed libksa);
``ksa.library_path()`` tells which one was loaded. Install with ``pip install ./python`` (uses an
installed libksa, or KSA_LIBRARY) or ``pip install <build>/python`` (uses that build), or put
``python/`` on ``PYTHONPATH``. Example::

    import torch, ksa
    ctx = ksa.Context()
    dev = ctx.open("cuda:0")
    o = torch.empty_like(q)
    dev.attention(q, k, v, o)                 # DENSE prefill on torch's current stream
"""
import ctypes
import os
import sys
import warnings

from . import _library

__all__ = ["KsaError", "OpenMPWaitWarning", "Context", "Device", "Schedule", "load_library", "library_path",
           "version", "openmp_wait_advice",
           "DTYPE_F32", "DTYPE_F16", "DTYPE_BF16", "DTYPE_I32",
           "MODE_DENSE", "MODE_ANCHOR", "MODE_REUSE", "PHASE_PREFILL", "PHASE_DECODE",
           "LAYER_DENSE", "LAYER_ANCHOR", "LAYER_REUSE", "TOLERANCE"]

DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_I32 = 1, 2, 3, 4
MODE_DENSE, MODE_ANCHOR, MODE_REUSE = 0, 1, 2
PHASE_PREFILL, PHASE_DECODE = 0, 1
LAYER_DENSE, LAYER_ANCHOR, LAYER_REUSE = 0, 1, 2
DEVICE_KINDS = {0: "reference", 1: "cpu", 2: "cuda", 3: "hip", 4: "opencl"}
MAX_DIMS = 5
_ELEM = {DTYPE_F32: 4, DTYPE_F16: 2, DTYPE_BF16: 2, DTYPE_I32: 4}
# Per-dtype output tolerances (atol, rtol): an element agrees with the reference when
# |x - ref| <= atol + rtol * |ref|. They mirror the library's central per-dtype tolerances,
# ksa_tolerance_for in dispatch/check.c (docs/SEMANTICS.md, "Correctness model"); change both together.
TOLERANCE = {"f32": (2e-5, 2e-5), "f16": (2e-3, 2e-3), "bf16": (1.6e-2, 1.6e-2)}


class KsaError(RuntimeError):
    """A ksa call failed: .status is the ksa_status code, the message its sentence."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------ C structures (ksa.h)
class _Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAX_DIMS), ("stride", ctypes.c_int64 * MAX_DIMS),
                ("data", ctypes.c_void_p), ("buffer", ctypes.c_void_p),
                ("offset", ctypes.c_size_t), ("device", ctypes.c_void_p)]


class _TopkParams(ctypes.Structure):
    _fields_ = [("fraction", ctypes.c_double), ("top_k", ctypes.c_int32), ("min_k", ctypes.c_int32),
                ("round_multiple", ctypes.c_int32), ("tile_size", ctypes.c_int32),
                ("rolling", ctypes.c_int32), ("local_window", ctypes.c_int32)]


class _AttentionParams(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("phase", ctypes.c_int), ("scale", ctypes.c_float),
                ("anchor_dense_output", ctypes.c_int32), ("validate_indices", ctypes.c_int32),
                ("topk", _TopkParams), ("max_seqlen_q", ctypes.c_int32), ("max_seqlen_k", ctypes.c_int32)]


_TENSOR_NAMES = ("q", "k", "v", "o", "lse", "cu_seqlens_q", "cu_seqlens_k", "page_table",
                 "seq_lens_k", "indices", "counts", "head_map")


class _AttentionTensors(ctypes.Structure):
    _fields_ = [(n, _Tensor) for n in _TENSOR_NAMES]


class _Workspace(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("buffer", ctypes.c_void_p),
                ("offset", ctypes.c_size_t), ("size", ctypes.c_size_t)]


class _DeviceInfo(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("name", ctypes.c_char * 128), ("backend", ctypes.c_char * 32),
                ("description", ctypes.c_char * 128), ("isa", ctypes.c_char * 64),
                ("compute_units", ctypes.c_int32), ("host_memory", ctypes.c_int32),
                ("memory_bytes", ctypes.c_uint64), ("driver_version", ctypes.c_char * 64)]


class _CalibPlan(ctypes.Structure):
    _fields_ = [("num_layers", ctypes.c_int32), ("num_kv_heads", ctypes.c_int32), ("num_anchors", ctypes.c_int32),
                ("anchors", ctypes.POINTER(ctypes.c_int32)), ("head_maps", ctypes.POINTER(ctypes.c_int32)),
                ("model", ctypes.c_char * 128), ("num_shards", ctypes.c_int32)]


# ------------------------------------------------------------------ library loading
_lib = None
_lib_path = None
_lib_origin = None


def load_library(path=None):
    """Load libksa once (path, or the search of ksa._library) and declare its API."""
    global _lib, _lib_path, _lib_origin
    if _lib is not None and path is None:
        return _lib
    if path:
        lib, where, how = ctypes.CDLL(path), path, "load_library(path)"
    else:
        lib, where, how = _library.load()
    vp, ip, i32, st = ctypes.c_void_p, ctypes.c_int, ctypes.c_int32, ctypes.c_int
    P = ctypes.POINTER
    decl = {
        "ksa_version": (ip, []), "ksa_version_string": (ctypes.c_char_p, []),
        "ksa_status_string": (ctypes.c_char_p, [st]), "ksa_last_error": (ctypes.c_char_p, []),
        "ksa_context_create": (st, [P(vp)]), "ksa_context_destroy": (None, [vp]),
        "ksa_device_count": (st, [vp, P(ip)]), "ksa_device_get": (st, [vp, ip, P(vp)]),
        "ksa_device_open": (st, [vp, ctypes.c_char_p, P(vp)]),
        "ksa_device_get_info": (st, [vp, P(_DeviceInfo)]),
        "ksa_stream_create": (st, [vp, P(vp)]), "ksa_stream_wrap": (st, [vp, vp, P(vp)]),
        "ksa_stream_synchronize": (st, [vp, vp]), "ksa_stream_destroy": (None, [vp]),
        "ksa_buffer_alloc": (st, [vp, ctypes.c_size_t, P(vp)]), "ksa_buffer_free": (None, [vp]),
        "ksa_attention_params_default": (_AttentionParams, [ip, ip]),
        "ksa_topk_default": (_TopkParams, []),
        "ksa_attention_index_shape": (st, [vp, P(_AttentionParams), P(_AttentionTensors),
                                           P(ctypes.c_int64), P(ctypes.c_int64)]),
        "ksa_attention_workspace_size": (st, [vp, P(_AttentionParams), P(_AttentionTensors),
                                              P(ctypes.c_size_t)]),
        "ksa_attention": (st, [vp, vp, P(_AttentionParams), P(_AttentionTensors), P(_Workspace)]),
        "ksa_schedule_create": (st, [vp, i32, i32, P(_TopkParams), P(vp)]),
        "ksa_schedule_destroy": (None, [vp]),
        "ksa_schedule_set_layer": (st, [vp, i32, ip, P(i32)]),
        "ksa_schedule_set_kascade": (st, [vp, P(i32), i32, P(i32)]),
        "ksa_schedule_plan": (st, [vp, ip, P(_AttentionTensors), P(ctypes.c_size_t)]),
        "ksa_schedule_run_layer": (st, [vp, vp, i32, P(_AttentionTensors), P(_Workspace)]),
        "ksa_set_config_override": (st, [ctypes.c_char_p]),
        # tensor parallelism and plan files (RankSchedule, load_plan)
        "ksa_schedule_set_head_range": (st, [vp, i32, i32]),
        "ksa_schedule_get_head_range": (st, [vp, P(i32), P(i32)]),
        "ksa_schedule_set_max_seqlens": (st, [vp, i32, i32]),
        "ksa_schedule_get_index_state": (st, [vp, P(_Tensor), P(_Tensor)]),
        "ksa_buffer_read": (st, [vp, vp, ctypes.c_size_t, ctypes.c_size_t, vp]),
        "ksa_calib_plan_load": (st, [ctypes.c_char_p, P(_CalibPlan)]),
        "ksa_calib_plan_load_npy": (st, [ctypes.c_char_p, P(i32), i32, P(_CalibPlan)]),
        "ksa_calib_plan_free": (None, [P(_CalibPlan)]),
    }
    for name, (res, args) in decl.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _lib, _lib_path, _lib_origin = lib, where, how
    return lib


def library_path():
    """(the libksa that was loaded, how it was found): loads it first if needed."""
    load_library()
    return _lib_path, _lib_origin


def _check(status, what):
    if status != 0:
        lib = load_library()
        raise KsaError(status, f"{what}: {lib.ksa_status_string(status).decode()}: "
                               f"{lib.ksa_last_error().decode()}")


def version():
    return load_library().ksa_version_string().decode()


def set_config_override(config):
    """Force a backend configuration for calls on this thread ('' or None: tuned/default)."""
    _check(load_library().ksa_set_config_override(config.encode() if config else None), "ksa_set_config_override")


# ------------------------------------------------------------------ tensors from Python objects
def _torch_dtype_code(dt):
    name = str(dt)
    return {"torch.float32": DTYPE_F32, "torch.float16": DTYPE_F16, "torch.bfloat16": DTYPE_BF16,
            "torch.int32": DTYPE_I32}.get(name)


_TYPESTR = {"<f4": DTYPE_F32, "<f2": DTYPE_F16, "<i4": DTYPE_I32}


def _describe(obj, dtype=None):
    """(pointer, dtype code, shape, element strides, torch device or None) of an array-like object."""
    if isinstance(obj, tuple) and len(obj) == 4:
        ptr, dt, shape, strides = obj
        return int(ptr), dt, tuple(shape), tuple(strides), None
    if hasattr(obj, "data_ptr") and hasattr(obj, "stride") and hasattr(obj, "dtype"):  # torch
        dt = _torch_dtype_code(obj.dtype)
        if dt is None:
            raise TypeError(f"ksa: torch dtype {obj.dtype} is not float32, float16, bfloat16 or int32")
        return obj.data_ptr(), dt, tuple(obj.shape), tuple(obj.stride()), obj.device
    iface = getattr(obj, "__cuda_array_interface__", None) or getattr(obj, "__array_interface__", None)
    if iface is None:
        raise TypeError("ksa: expected a torch tensor, an object with __cuda_array_interface__ or "
                        "__array_interface__, or a (pointer, dtype, shape, strides) tuple")
    dt = dtype if dtype is not None else _TYPESTR.get(iface["typestr"])
    if dt is None:
        raise TypeError(f"ksa: array typestr {iface['typestr']} needs an explicit dtype= (bf16 is '<V2')")
    shape = tuple(iface["shape"])
    es = _ELEM[dt]
    if iface.get("strides"):
        strides = tuple(s // es for s in iface["strides"])
    else:
        strides, acc = [], 1
        for n in reversed(shape):
            strides.insert(0, acc)
            acc *= n
        strides = tuple(strides)
    return int(iface["data"][0]), dt, shape, strides, None


def _make_tensor(dev_handle, obj, dtype=None):
    t = _Tensor()
    if obj is None:
        return t
    ptr, dt, shape, strides, _ = _describe(obj, dtype)
    if len(shape) > MAX_DIMS:
        raise ValueError(f"ksa: {len(shape)} dimensions; at most {MAX_DIMS}")
    t.dtype = dt
    t.ndim = len(shape)
    for i, (n, s) in enumerate(zip(shape, strides)):
        t.shape[i] = n
        t.stride[i] = s
    t.data = ptr
    t.device = dev_handle
    return t


# ------------------------------------------------------------------ context, device, schedule
class OpenMPWaitWarning(RuntimeWarning):
    """torch's OpenMP threads busy-wait after each torch op, on the cores ksa's CPU calls run on."""


def _spin_is_short(value):
    try:
        return int(str(value).strip()) <= 10000
    except ValueError:
        return False


def openmp_wait_advice(parallel_info, num_threads, environ):
    """What a process whose torch reports ``parallel_info`` (torch.__config__.parallel_info()) and
    ``num_threads`` (torch.get_num_threads()) under the environment ``environ`` should change before
    it runs ksa on the CPU, as a sentence, or None when nothing. torch's OpenMP threads busy-wait after
    each parallel region unless told to sleep; ksa's pinned CPU workers then share the cores with them
    (measured on a 16-core Xeon, torch 2.11 with libgomp: a ksa call right after a torch op 1.47x as
    long at L2048; with OMP_WAIT_POLICY=ACTIVE every ksa call 1.8-2x as long)."""
    if "parallel backend: OpenMP" not in parallel_info or num_threads <= 1:
        return None
    policy = str(environ.get("OMP_WAIT_POLICY", "")).strip().lower()
    fix = "set OMP_WAIT_POLICY=PASSIVE (or GOMP_SPINCOUNT=0 with libgomp, KMP_BLOCKTIME=0 with Intel OpenMP) " \
          "before torch is imported (ksa's README: 'PyTorch on the CPU')"
    if policy == "active":
        return (f"ksa: torch's {num_threads} OpenMP threads spin without end (OMP_WAIT_POLICY=ACTIVE) on the cores "
                f"ksa's CPU calls use, which makes every ksa CPU call up to 2x slower; {fix}")
    if policy == "passive" or _spin_is_short(environ.get("GOMP_SPINCOUNT", "x")) \
            or str(environ.get("KMP_BLOCKTIME", "")).strip() == "0":
        return None
    return (f"ksa: torch's {num_threads} OpenMP threads busy-wait for a while after each torch op, on the cores "
            f"ksa's CPU calls use, so a ksa CPU call right after a torch op can take up to 1.5x as long; {fix}")


_openmp_advice_given = False


def _advise_openmp_wait():
    """Warn once per process (OpenMPWaitWarning) when torch is loaded and its OpenMP threads spin."""
    global _openmp_advice_given
    torch = sys.modules.get("torch")
    if _openmp_advice_given or torch is None:
        return
    _openmp_advice_given = True
    try:
        msg = openmp_wait_advice(torch.__config__.parallel_info(), torch.get_num_threads(), os.environ)
    except Exception:  # noqa: BLE001 (a torch without these calls: no advice)
        return
    if msg:
        warnings.warn(msg, OpenMPWaitWarning, stacklevel=3)


class Context:
    """Discovers the backends and devices (ksa_context_create)."""

    def __init__(self, library=None):
        self._lib = load_library(library)
        h = ctypes.c_void_p()
        _check(self._lib.ksa_context_create(ctypes.byref(h)), "ksa_context_create")
        self._h = h
        self._devices = {}

    def close(self):
        if getattr(self, "_h", None):
            for d in self._devices.values():
                d._release()
            self._lib.ksa_context_destroy(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def device_names(self):
        n = ctypes.c_int()
        _check(self._lib.ksa_device_count(self._h, ctypes.byref(n)), "ksa_device_count")
        names = []
        for i in range(n.value):
            h = ctypes.c_void_p()
            _check(self._lib.ksa_device_get(self._h, i, ctypes.byref(h)), "ksa_device_get")
            info = _DeviceInfo()
            _check(self._lib.ksa_device_get_info(h, ctypes.byref(info)), "ksa_device_get_info")
            names.append(info.name.decode())
        return names

    def open(self, name="auto"):
        """A device by name: 'auto', 'cpu', 'reference', 'cuda:N', 'hip:N', 'opencl:P.D'."""
        if name in self._devices:
            return self._devices[name]
        h = ctypes.c_void_p()
        _check(self._lib.ksa_device_open(self._h, name.encode(), ctypes.byref(h)), f"ksa_device_open({name})")
        dev = Device(self, h)
        self._devices[name] = dev
        if dev.kind == "cpu":
            _advise_openmp_wait()
        return dev

    def device_for(self, tensor):
        """The ksa device holding a torch tensor ('cuda:N', 'hip:N' under ROCm torch, or 'cpu')."""
        d = getattr(tensor, "device", None)
        if d is not None and getattr(d, "type", None) == "cuda":
            import torch  # noqa: WPS433 (only reached with a torch tensor)
            kind = "hip" if getattr(torch.version, "hip", None) else "cuda"
            index = d.index if d.index is not None else torch.cuda.current_device()
            return self.open(f"{kind}:{index}")
        return self.open("cpu")


class Device:
    """One device: info, streams, attention calls. Made by Context.open()."""

    def __init__(self, ctx, handle):
        self._ctx = ctx
        self._lib = ctx._lib
        self._h = handle
        info = _DeviceInfo()
        _check(self._lib.ksa_device_get_info(handle, ctypes.byref(info)), "ksa_device_get_info")
        self.kind = DEVICE_KINDS.get(info.kind, str(info.kind))
        self.name = info.name.decode()
        self.backend = info.backend.decode()
        self.description = info.description.decode()
        self.isa = info.isa.decode()
        self.compute_units = info.compute_units
        self.host_memory = bool(info.host_memory)
        self.memory_bytes = info.memory_bytes
        self.driver_version = info.driver_version.decode()
        self._streams = {}
        self._ws = []  # (handle, size): kept until close, so a prepared call's workspace stays valid

    def _release(self):
        for s in self._streams.values():
            self._lib.ksa_stream_destroy(s)
        self._streams.clear()
        for h, _ in self._ws:
            self._lib.ksa_buffer_free(h)
        self._ws = []

    def __repr__(self):
        return f"<ksa.Device {self.name} ({self.backend}, {self.description}, {self.isa})>"

    # streams ------------------------------------------------------------
    def stream(self, native=None):
        """A ksa stream wrapping a native queue (int pointer, e.g. torch's cuda_stream); None: torch's
        current CUDA stream on GPU devices when torch is loaded, else the default stream."""
        if native is None and self.kind in ("cuda", "hip"):
            try:
                import torch  # noqa: WPS433 (optional)
                native = torch.cuda.current_stream().cuda_stream
            except Exception:
                native = None
        if not native:
            return None
        native = int(native)
        if native not in self._streams:
            h = ctypes.c_void_p()
            _check(self._lib.ksa_stream_wrap(self._h, ctypes.c_void_p(native), ctypes.byref(h)), "ksa_stream_wrap")
            self._streams[native] = h
        return self._streams[native]

    def synchronize(self, stream=None):
        _check(self._lib.ksa_stream_synchronize(self._h, stream), "ksa_stream_synchronize")

    # attention ----------------------------------------------------------
    def params(self, mode=MODE_DENSE, phase=PHASE_PREFILL, scale=0.0, anchor_dense_output=False,
               validate_indices=False, max_seqlen_q=0, max_seqlen_k=0, **topk):
        p = self._lib.ksa_attention_params_default(mode, phase)
        p.scale = scale
        p.anchor_dense_output = int(anchor_dense_output)
        p.validate_indices = int(validate_indices)
        p.max_seqlen_q, p.max_seqlen_k = int(max_seqlen_q), int(max_seqlen_k)
        for key, val in topk.items():
            if not hasattr(p.topk, key):
                raise TypeError(f"ksa: unknown Top-k parameter {key}")
            setattr(p.topk, key, val)
        return p

    def tensors(self, q, k, v, o=None, **extra):
        t = _AttentionTensors()
        for name, obj in (("q", q), ("k", k), ("v", v), ("o", o)):
            setattr(t, name, _make_tensor(self._h, obj))
        for name, obj in extra.items():
            if name not in _TENSOR_NAMES:
                raise TypeError(f"ksa: unknown tensor argument {name}")
            setattr(t, name, _make_tensor(self._h, obj))
        return t

    def index_shape(self, params, tensors):
        """(n_tiles, k_slots) of the index tensor for this call."""
        a, b = ctypes.c_int64(), ctypes.c_int64()
        _check(self._lib.ksa_attention_index_shape(self._h, ctypes.byref(params), ctypes.byref(tensors),
                                                   ctypes.byref(a), ctypes.byref(b)), "ksa_attention_index_shape")
        return a.value, b.value

    def workspace(self, nbytes):
        """A device scratch buffer of at least nbytes: the largest allocated so far when it is big
        enough, else a new one (older ones stay valid until the context closes)."""
        w = _Workspace()
        if nbytes == 0:
            return w
        if not self._ws or self._ws[-1][1] < nbytes:
            h = ctypes.c_void_p()
            _check(self._lib.ksa_buffer_alloc(self._h, nbytes, ctypes.byref(h)), "ksa_buffer_alloc(workspace)")
            self._ws.append((h, nbytes))
        w.buffer, w.size = self._ws[-1]
        return w

    def workspace_size(self, params, tensors):
        """Scratch bytes a call with these params and tensors needs (ksa_attention_workspace_size)."""
        size = ctypes.c_size_t()
        _check(self._lib.ksa_attention_workspace_size(self._h, ctypes.byref(params), ctypes.byref(tensors),
                                                      ctypes.byref(size)), "ksa_attention_workspace_size")
        return size.value

    def run(self, params, tensors, workspace_ptr=0, workspace_bytes=0, stream=None):
        """One ksa_attention call with a caller-owned workspace (a device pointer and its size, e.g.
        a torch tensor's data_ptr()) on a ksa stream from stream() (None: the default stream)."""
        ws = _Workspace()
        ws.data, ws.size = (workspace_ptr or None), workspace_bytes
        _check(self._lib.ksa_attention(self._h, stream, ctypes.byref(params), ctypes.byref(tensors), ctypes.byref(ws)),
               "ksa_attention")

    def prepare(self, q, k, v, o, mode=MODE_DENSE, phase=None, stream=None, **kw):
        """Resolve everything once; returns a zero-argument callable that runs the call (for timing
        loops: no Python work beyond one ctypes call)."""
        tensor_args = {n: kw.pop(n) for n in list(kw) if n in _TENSOR_NAMES}
        if phase is None:
            phase = PHASE_DECODE if _describe(q)[2][1] == 1 and _describe(k)[2][1] > 1 else PHASE_PREFILL
        params = self.params(mode, phase, **kw)
        tensors = self.tensors(q, k, v, o, **tensor_args)
        ws = self.workspace(self.workspace_size(params, tensors))
        st = self.stream(stream)
        fn, h = self._lib.ksa_attention, self._h
        pp, tp, wp = ctypes.byref(params), ctypes.byref(tensors), ctypes.byref(ws)
        keep = (params, tensors, ws, q, k, v, o, tensor_args)

        def run():
            _check(fn(h, st, pp, tp, wp), "ksa_attention")
            return keep[6]
        return run

    def attention(self, q, k, v, o, mode=MODE_DENSE, phase=None, stream=None, **kw):
        """One ksa_attention call. q/o [B, Lq, Hq, D], k/v [B, Lk, Hkv, D]; keyword tensors lse,
        indices, counts, head_map, seq_lens_k, cu_seqlens_q/k, page_table; keyword parameters scale,
        anchor_dense_output, validate_indices, max_seqlen_q / max_seqlen_k (host bounds of the
        device length tensors: no read-back on CUDA/HIP/OpenCL, graph-capturable on CUDA/HIP) and
        the Top-k fields (fraction, top_k, min_k, round_multiple, tile_size, rolling, local_window). Enqueued on
        `stream` (native pointer) or torch's current stream. Returns o."""
        return self.prepare(q, k, v, o, mode=mode, phase=phase, stream=stream, **kw)()


class Schedule:
    """A model's per-layer plan (ksa_schedule): Kascade anchors + head maps; one call per layer."""

    def __init__(self, device, num_layers, num_kv_heads, **topk):
        self._dev = device
        self._lib = device._lib
        tp = self._lib.ksa_topk_default()
        for key, val in topk.items():
            setattr(tp, key, val)
        h = ctypes.c_void_p()
        _check(self._lib.ksa_schedule_create(device._h, num_layers, num_kv_heads, ctypes.byref(tp), ctypes.byref(h)),
               "ksa_schedule_create")
        self._h = h
        self.num_layers, self.num_kv_heads = num_layers, num_kv_heads
        self._ws = _Workspace()

    def __del__(self):
        try:
            if self._h:
                self._lib.ksa_schedule_destroy(self._h)
                self._h = None
        except Exception:
            pass

    def set_kascade(self, anchors, head_maps):
        """anchors: layer numbers (0 first); head_maps: [num_layers][num_kv_heads] ints (or an array)."""
        flat = [int(x) for row in head_maps for x in row]
        if len(flat) != self.num_layers * self.num_kv_heads:
            raise ValueError(f"ksa: head_maps has {len(flat)} entries; expected {self.num_layers * self.num_kv_heads}")
        a = (ctypes.c_int32 * len(anchors))(*anchors)
        m = (ctypes.c_int32 * len(flat))(*flat)
        _check(self._lib.ksa_schedule_set_kascade(self._h, a, len(anchors), m), "ksa_schedule_set_kascade")

    def set_max_seqlens(self, max_seqlen_q=0, max_seqlen_k=0):
        """Host bounds of the per-sequence lengths for every layer (ksa_schedule_set_max_seqlens):
        ragged or paged steps on a GPU or an OpenCL device then read no lengths back. Plan again
        afterwards."""
        _check(self._lib.ksa_schedule_set_max_seqlens(self._h, int(max_seqlen_q), int(max_seqlen_k)),
               "ksa_schedule_set_max_seqlens")

    def set_layer(self, layer, kind, head_map=None):
        m = (ctypes.c_int32 * self.num_kv_heads)(*head_map) if head_map is not None else None
        _check(self._lib.ksa_schedule_set_layer(self._h, layer, kind, m), "ksa_schedule_set_layer")

    def plan(self, phase, q, k, v=None, o=None):
        """Size the index state for a step from q/k shapes; allocates the step's workspace."""
        t = self._dev.tensors(q, k, v if v is not None else k, o if o is not None else q)
        size = ctypes.c_size_t()
        _check(self._lib.ksa_schedule_plan(self._h, phase, ctypes.byref(t), ctypes.byref(size)), "ksa_schedule_plan")
        self._ws = self._dev.workspace(size.value)

    def prepare_layer(self, layer, q, k, v, o, stream=None):
        """A zero-argument callable that runs `layer` on these tensors, resolved once (for timing
        loops: one ctypes call per run). Valid while the tensors live; plan() first."""
        t = self._dev.tensors(q, k, v, o)
        st = self._dev.stream(stream)
        fn, h, keep = self._lib.ksa_schedule_run_layer, self._h, (q, k, v, o)

        def run():
            _check(fn(h, st, layer, ctypes.byref(t), ctypes.byref(self._ws)), f"ksa_schedule_run_layer({layer})")
            return keep[3]
        return run

    def run_layer(self, layer, q, k, v, o, stream=None):
        """One ksa_schedule_run_layer call (plan() first). Returns o."""
        return self.prepare_layer(layer, q, k, v, o, stream)()


# ------------------------------------------------------------------ tensor parallelism and plans
# (RankSchedule: ksa_schedule_set_head_range, ksa_schedule_get_index_state; load_plan: plan files;
# their declarations are in load_library's table)
__all__ += ["RankSchedule", "load_plan"]


def load_plan(path):
    """A Kascade plan from a schedule file (calib/SCHEDULE-FORMAT.md) or a head-map .npy table whose
    name carries the anchors: dict(model, num_layers, num_kv_heads, num_shards, anchors, head_maps),
    head_maps as num_layers lists of num_kv_heads ints (the model's KV-head numbers)."""
    lib = load_library()
    plan = _CalibPlan()
    if str(path).endswith(".npy"):
        status = lib.ksa_calib_plan_load_npy(os.fsencode(path), None, 0, ctypes.byref(plan))
    else:
        status = lib.ksa_calib_plan_load(os.fsencode(path), ctypes.byref(plan))
    _check(status, f"load_plan({path})")
    try:
        n, h = plan.num_layers, plan.num_kv_heads
        return {"model": plan.model.decode(), "num_layers": n, "num_kv_heads": h,
                "num_shards": max(1, plan.num_shards),
                "anchors": [plan.anchors[i] for i in range(plan.num_anchors)],
                "head_maps": [[plan.head_maps[l * h + g] for g in range(h)] for l in range(n)]}
    finally:
        lib.ksa_calib_plan_free(ctypes.byref(plan))


class RankSchedule(Schedule):
    """The Schedule of one tensor-parallel rank: it runs KV heads [kv_head_offset, kv_head_offset +
    kv_head_count) of the model's num_kv_heads (ksa_schedule_set_head_range), on q/k/v/o that hold
    only those heads (and their Hq/Hkv query heads each). Head maps stay in the model's numbering and
    must keep the rank's heads inside its range (ksa-calibrate --shards)."""

    def __init__(self, device, num_layers, num_kv_heads, kv_head_offset=0, kv_head_count=None, **topk):
        super().__init__(device, num_layers, num_kv_heads, **topk)
        count = num_kv_heads if kv_head_count is None else kv_head_count
        _check(load_library().ksa_schedule_set_head_range(self._h, kv_head_offset, count),
               "ksa_schedule_set_head_range")
        self.kv_head_offset, self.kv_head_count = kv_head_offset, count

    def head_range(self):
        off, cnt = ctypes.c_int32(), ctypes.c_int32()
        _check(load_library().ksa_schedule_get_head_range(self._h, ctypes.byref(off), ctypes.byref(cnt)),
               "ksa_schedule_get_head_range")
        return off.value, cnt.value

    def index_state(self):
        """Host copies of the index state the last ANCHOR layer wrote: ((shape, array('i')) for the
        indices, (shape, array('i')) for the counts), over this rank's KV heads."""
        import array
        lib = load_library()
        ti, tc = _Tensor(), _Tensor()
        _check(lib.ksa_schedule_get_index_state(self._h, ctypes.byref(ti), ctypes.byref(tc)),
               "ksa_schedule_get_index_state")
        out = []
        self._dev.synchronize(None)
        for t in (ti, tc):
            shape = tuple(t.shape[i] for i in range(t.ndim))
            n = 1
            for s in shape:
                n *= s
            host = array.array("i", bytes(4 * n))
            addr, _ = host.buffer_info()
            _check(lib.ksa_buffer_read(addr, t.buffer, t.offset, 4 * n, None), "ksa_buffer_read(index state)")
            out.append((shape, host))
        return out[0], out[1]

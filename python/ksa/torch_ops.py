"""torch_ops.py: ksa's attention as PyTorch custom ops (torch.library.custom_op, torch >= 2.4).

Importing this module registers three functional ops in the ``ksa`` namespace:

``torch.ops.ksa.dense(q, k, v, decode=False, scale=0.0) -> o``
    dense causal attention (prefill; ``decode=True``: one query per sequence at position Lk - 1).
``torch.ops.ksa.anchor(q, k, v, decode=False, scale=0.0, dense_output=False, <Top-k>) -> (o, indices, counts)``
    an anchor layer: dense work, Top-k index sets per KV head (per query tile in prefill), and the
    sparse output (``dense_output=True``: the dense one, as Kascade's layer 0).
``torch.ops.ksa.reuse(q, k, v, indices, counts, head_map, decode=False, scale=0.0, <Top-k>, local_window=0) -> o``
    a reuse layer: attention over the anchor's sets through the head map (int32 [Hkv]; None = identity).

``<Top-k>`` is ``fraction=0.1, top_k=0, min_k=128, round_multiple=128, tile_size=32, rolling=True``:
the defaults of ``ksa_topk_default()`` (docs/SEMANTICS.md "Budget k"). Tensors use ksa's layout,
q/o [B, Lq, Hq, D] and k/v [B, Lk, Hkv, D] with unit innermost stride (torch's [B, H, L, D] go in
as ``x.transpose(1, 2)``); CPU tensors run on ksa's ``cpu`` device, CUDA tensors on ``cuda:N``
(``hip:N`` under ROCm builds of torch), on torch's current stream. Index tensors: prefill
indices int32 [B, Hkv, tiles, slots] and counts [B, Hkv, tiles]; decode [B, Hkv, slots] and [B, Hkv].

Each op allocates its outputs and its workspace through torch (so under CUDA-graph capture they
come from the graph's pool) and makes one ksa_attention call, which allocates nothing and reads
nothing back. The fake (meta) implementations give the output shapes without touching data, so
``torch.compile(..., fullgraph=True)`` traces through the ops; their index shapes come from the
library's own rule (ksa_attention_index_shape, evaluated on the reference device with placeholder
pointers). The ops have no autograd formula (inference only).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from . import (MODE_ANCHOR, MODE_DENSE, MODE_REUSE, PHASE_DECODE, PHASE_PREFILL, Context, _make_tensor,
               _AttentionTensors)

__all__ = ["dense", "anchor", "reuse", "TOPK_DEFAULTS"]

# the literal defaults of the op schemas below; tests check them against ksa_topk_default()
TOPK_DEFAULTS = {"fraction": 0.1, "top_k": 0, "min_k": 128, "round_multiple": 128, "tile_size": 32, "rolling": True,
                 "local_window": 0}

_ctx = None
_PLACEHOLDER = 256  # a non-null address for shape-only queries on the reference device (never dereferenced)


def _context():
    global _ctx
    if _ctx is None:
        _ctx = Context()
    return _ctx


def _params(dev, mode, decode, scale, dense_output=False, **topk):
    # the op schemas type the Top-k values (fraction float, the rest int or bool), as the ctypes fields take them
    return dev.params(mode, PHASE_DECODE if decode else PHASE_PREFILL, scale=scale, anchor_dense_output=dense_output,
                      **topk)


def _check_layout(name, t):
    if t.dim() != 4:
        raise ValueError(f"ksa: {name} must be 4-D [B, L, H, D] (got {t.dim()}-D {tuple(t.shape)})")
    if t.stride(3) != 1:
        raise ValueError(f"ksa: {name} needs a unit stride on its last (head_dim) dimension (strides {t.stride()})")


def _index_shape(q, k, decode, topk):
    """(tiles, slots) of the index tensor for these shapes, by the library's rule, without data."""
    dev = _context().open("reference")
    p = _params(dev, MODE_ANCHOR, decode, 0.0, **topk)
    t = _AttentionTensors()
    for name, x in (("q", q), ("k", k), ("v", k), ("o", q)):
        shape = [int(n) for n in x.shape]
        strides, acc = [], 1
        for n in reversed(shape):
            strides.insert(0, acc)
            acc *= max(n, 1)
        setattr(t, name, _make_tensor(dev._h, (_PLACEHOLDER, 1, shape, strides)))
    return dev.index_shape(p, t)


def _index_outputs(q, k, decode, topk, like):
    b, hkv = int(q.shape[0]), int(k.shape[2])
    tiles, slots = _index_shape(q, k, decode, topk)
    if decode:
        return like.new_empty((b, hkv, slots), dtype=torch.int32), like.new_empty((b, hkv), dtype=torch.int32)
    return like.new_empty((b, hkv, tiles, slots), dtype=torch.int32), like.new_empty((b, hkv, tiles), dtype=torch.int32)


def _run(mode, q, k, v, o, decode, scale, dense_output=False, indices=None, counts=None, head_map=None, **topk):
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_layout(name, t)
    dev = _context().device_for(q)
    params = _params(dev, mode, decode, scale, dense_output, **topk)
    tensors = dev.tensors(q, k, v, o, indices=indices, counts=counts, head_map=head_map)  # None: an empty tensor
    nbytes = dev.workspace_size(params, tensors)
    ws = torch.empty(max(nbytes, 1), dtype=torch.uint8, device=q.device)
    stream = dev.stream(torch.cuda.current_stream(q.device).cuda_stream) if q.is_cuda else None
    dev.run(params, tensors, ws.data_ptr() if nbytes else 0, nbytes, stream)
    return o


# ------------------------------------------------------------------ dense
@torch.library.custom_op("ksa::dense", mutates_args=())
def dense(q: Tensor, k: Tensor, v: Tensor, decode: bool = False, scale: float = 0.0) -> Tensor:
    o = torch.empty_like(q)
    return _run(MODE_DENSE, q, k, v, o, decode, scale)


@dense.register_fake
def _dense_fake(q, k, v, decode=False, scale=0.0):
    return torch.empty_like(q)


# ------------------------------------------------------------------ anchor
@torch.library.custom_op("ksa::anchor", mutates_args=())
def anchor(q: Tensor, k: Tensor, v: Tensor, decode: bool = False, scale: float = 0.0, dense_output: bool = False,
           fraction: float = 0.1, top_k: int = 0, min_k: int = 128, round_multiple: int = 128, tile_size: int = 32,
           rolling: bool = True) -> Tuple[Tensor, Tensor, Tensor]:
    topk = dict(fraction=fraction, top_k=top_k, min_k=min_k, round_multiple=round_multiple, tile_size=tile_size,
                rolling=rolling)
    o = torch.empty_like(q)
    indices, counts = _index_outputs(q, k, decode, topk, q)
    _run(MODE_ANCHOR, q, k, v, o, decode, scale, dense_output, indices=indices, counts=counts, **topk)
    return o, indices, counts


@anchor.register_fake
def _anchor_fake(q, k, v, decode=False, scale=0.0, dense_output=False, fraction=0.1, top_k=0, min_k=128,
                 round_multiple=128, tile_size=32, rolling=True):
    topk = dict(fraction=fraction, top_k=top_k, min_k=min_k, round_multiple=round_multiple, tile_size=tile_size,
                rolling=rolling)
    indices, counts = _index_outputs(q, k, decode, topk, q)
    return torch.empty_like(q), indices, counts


# ------------------------------------------------------------------ reuse
@torch.library.custom_op("ksa::reuse", mutates_args=())
def reuse(q: Tensor, k: Tensor, v: Tensor, indices: Tensor, counts: Optional[Tensor] = None,
          head_map: Optional[Tensor] = None, decode: bool = False, scale: float = 0.0, fraction: float = 0.1,
          top_k: int = 0, min_k: int = 128, round_multiple: int = 128, tile_size: int = 32, rolling: bool = True,
          local_window: int = 0) -> Tensor:
    o = torch.empty_like(q)
    return _run(MODE_REUSE, q, k, v, o, decode, scale, indices=indices, counts=counts, head_map=head_map,
                fraction=fraction, top_k=top_k, min_k=min_k, round_multiple=round_multiple, tile_size=tile_size,
                rolling=rolling, local_window=local_window)


@reuse.register_fake
def _reuse_fake(q, k, v, indices, counts=None, head_map=None, decode=False, scale=0.0, fraction=0.1, top_k=0,
                min_k=128, round_multiple=128, tile_size=32, rolling=True, local_window=0):
    return torch.empty_like(q)

"""Measure what torch really keeps: saved-for-backward storages, and the CPU allocator's peak."""

from __future__ import annotations

from itertools import chain

import torch
from torch import nn


def measured_saved_bytes(net: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the unique storages autograd saves in a training forward, parameters and buffers
    excluded (``torch.autograd.graph.saved_tensors_hooks``)."""
    state = {t.untyped_storage().data_ptr() for t in chain(net.parameters(), net.buffers())}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in state:
            storages[s.data_ptr()] = s.nbytes()
        # A detached alias keeps the storage alive (no address reuse while counting) without the
        # tensor → grad_fn → saved tensor cycle that returning ``t`` itself creates (and leaks).
        return t.detach()

    net.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x)
    del out
    return sum(storages.values())


def measured_peak_inference_bytes(net: nn.Module, x: torch.Tensor) -> int:
    """Peak of CPU bytes allocated during an inference forward, from torch's memory profiler
    (allocation and free events in order; the input, parameters and buffers existed before)."""
    from torch.profiler import ProfilerActivity, profile

    net.eval()
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = net(x)
    del out
    # The allocator's own records, in time order: +bytes per allocation, −bytes per free (this
    # includes temporaries such as a conv's im2col workspace, which the engine does not model).
    records = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    )
    current = peak = 0
    for _, nbytes in records:
        current += nbytes
        peak = max(peak, current)
    return peak

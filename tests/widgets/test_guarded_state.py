"""GuardedState: a flood of distinct bad browser updates neither raises nor grows the kernel's memory."""

from __future__ import annotations

import gc
import tracemalloc
import warnings

import torch

from maskbench.widgets import Viewer


def test_distinct_bad_updates_do_not_grow_the_warning_registry() -> None:
    v = Viewer(torch.rand(3, 16, 16), torch.rand(16, 16) > 0.5)
    opacity = v.opacity
    bad = [{"opacity": f"not a number {i}"} for i in range(1100)]
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # the filter that remembers each text once per location
        warnings.showwarning = lambda *a, **k: None
        for update in bad[:100]:
            v.set_state(update)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for update in bad[100:]:
            v.set_state(update)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    assert v.opacity == opacity and "opacity" in v.error
    assert grown < 64 * 1024, f"{grown} bytes kept after 1000 rejected updates"

"""Plain-Python shape broadcasting (kernels._shapes) equals torch's, and never imports sympy."""

from __future__ import annotations

import subprocess
import sys

import torch
from hypothesis import given
from hypothesis import strategies as st

from maskbench.kernels._shapes import broadcast_shape, broadcasts_to

shapes = st.lists(st.integers(0, 3), max_size=4).map(tuple)


@given(shapes, shapes)
def test_broadcast_shape_equals_torch(a, b) -> None:
    try:
        want = tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        want = None
    assert broadcast_shape(a, b) == want
    assert broadcasts_to(a, b) == (want == b)


FIRST_CALLS = """
import sys, torch
import maskbench as mb
x = torch.rand(2, 3, 8, 8)
m = torch.rand(2, 1, 8, 8) > 0.5
mb.apply_mask(x, m); mb.apply_mask(x, m.float()); mb.apply_mask(x, m, fill="mean")
mb.masked_bce_with_logits(torch.randn(2, 1, 8, 8), m.float(), m)
mb.masked_mse(x, x.flip(0), m)
print("sympy" in sys.modules)
"""


def test_first_kernel_calls_do_not_import_sympy() -> None:
    """torch.broadcast_shapes imports sympy on its first call (0.5-1 s on a widget's first paint)."""
    out = subprocess.run([sys.executable, "-c", FIRST_CALLS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False"], out.stdout

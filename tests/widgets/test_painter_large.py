"""The Painter at large sizes (issue 12): a display proxy from the image pyramid, a clear error
when the image cannot fit in memory, and kernel memory measured in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from maskbench._checks import MaskbenchError
from maskbench.render import image_to_rgba
from maskbench.render.proxy import rgba_proxy
from maskbench.widgets import Painter
from maskbench.widgets import _painter_image as pimg
from maskbench.widgets._painter_image import check_memory, painter_bytes

ROOT = Path(__file__).resolve().parents[2]


def _reference(image: torch.Tensor, size) -> torch.Tensor:
    """adaptive_avg_pool2d in float64 of the values read as [0, 1], then image_to_rgba."""
    x = image.unsqueeze(0) if image.ndim == 2 else image
    x = x.double() / 255 if x.dtype == torch.uint8 else x.double()
    return image_to_rgba(F.adaptive_avg_pool2d(x[None], size)[0].float())


def test_painter_proxy_comes_from_the_pyramid():
    """The proxy is the area mean of the coarsest pyramid level at least its size: at a power-of-two
    ratio that level itself (rounded 2x2 means), within 1 of the image's own area mean."""
    img = np.random.default_rng(0).integers(0, 256, (2048, 1024, 3), dtype=np.uint8)
    p = Painter(img, max_display=256)
    assert np.array_equal(p._image[..., :3].numpy(), p._pyramid.level(3))
    ref = _reference(torch.from_numpy(img).permute(2, 0, 1), (256, 128))
    assert (p._image.int() - ref.int()).abs().max() <= 1
    q = Painter(img, max_display=300)  # 300 x 150: from level 2 (512 x 256), area-averaged
    assert torch.equal(q._image, rgba_proxy(torch.from_numpy(q._pyramid.level(2)).permute(2, 0, 1), (300, 150)))


def test_too_large_image_names_its_size(monkeypatch):
    monkeypatch.setattr(pimg, "available_memory", lambda: (1 << 30, "a test"))
    with pytest.raises(
        MaskbenchError, match=r"image: a 20000x20000 image .* needs about 2\.0 GiB .* only 1\.0 GiB"
    ) as err:
        check_memory((20000, 20000), 3)
    assert isinstance(err.value, ValueError) and "image[::2, ::2]" in str(err.value) and "(a test)" in str(err.value)
    check_memory((20000, 20000), 1)  # 0.9 GiB fits in 1 GiB
    check_memory((8192, 8192), 3)
    assert painter_bytes((8192, 8192), 3) < 3 * 8192 * 8192 * 3  # issue 12: under ~3x the image bytes
    # the Painter checks before it allocates anything
    monkeypatch.setattr(pimg, "available_memory", lambda: (1 << 20, "a test"))
    with pytest.raises(MaskbenchError, match=r"a 2000x3000 image with 3 channel"):
        Painter(torch.zeros(3, 2000, 3000, dtype=torch.uint8))


def test_available_memory_reports_a_source():
    room, source = pimg.available_memory()
    assert room is None or room > 0
    assert isinstance(source, str) and source


_CHILD = r"""
import json, sys, threading, time
import numpy as np, torch
from maskbench.widgets import Painter
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
n, layout = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
image = rng.integers(0, 256, (n, n, 3), dtype=np.uint8)
if layout == "chw":
    image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
Painter(np.zeros((64, 64, 3), np.uint8))  # one-off costs (imports, the comm machinery) are not the image's
import scipy.ndimage  # the Painter imports it in a thread
time.sleep(0.3)  # its pyramid thread
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak: what follows is the Painter's
base = status('VmRSS:')
t0 = time.perf_counter()
p = Painter(image)
seconds = time.perf_counter() - t0
for t in threading.enumerate():  # the pyramid's coarser levels count too
    if t.name.startswith("maskbench-painter"):
        t.join()
print(json.dumps({"peak": status('VmHWM:') - base, "held": status('VmRSS:') - base, "seconds": seconds}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc peak-RSS reset")
@pytest.mark.skipif((pimg.available_memory()[0] or 0) < 3 << 30, reason="needs ~3 GiB of free memory")
@pytest.mark.parametrize("layout", ["hwc", "chw"])
def test_painter_memory_at_8192_is_under_3x_the_image(layout):
    """A resource probe, not a timing: peak RSS above the loaded 8192^2 RGB uint8 image while building
    the Painter, its pyramid's coarser levels included (issue 12: under ~3x the image's bytes).

    Before the banded proxy it was ~8.4x (a float copy, then a scaled float copy); now ~0.4x (numpy
    (H, W, C): the pyramid references it; its coarser levels) and ~1.4x (torch (C, H, W): the
    pyramid's (H, W, C) copy too). The labels are calloc'd: pages appear where edits write."""
    n = 8192
    out = subprocess.run([sys.executable, "-c", _CHILD, str(n), layout], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["peak"] < 3 * n * n * 3, r

"""The one place where maskbench validates its inputs.

Every error names the argument, what was expected, what came, and a fix when there is one. Error
classes subclass ``ValueError`` / ``TypeError`` so ordinary ``except ValueError`` code catches them.

Checks that only look at shapes, dtypes and devices never read tensor data, so they cost no host
sync on CUDA. Checks that must read values (``check_weight_range``) run only on CPU tensors and
outside ``torch.compile``: on an accelerator they would force a GPU->CPU sync, which maskbench's
kernels promise not to do.

One package, split by what is checked: ``errors`` (the error family, message helpers), ``scalars``
(Python numbers, flags, options), ``tensors`` (types, shapes, dtypes, devices, values), ``losses``
(the masked losses' arguments) and ``batches`` (dataset batches, errors naming the item). Import the
checks from ``maskbench._checks``; ``__all__`` lists every name other modules use.
"""

from maskbench._checks.batches import check_batch_values, located, prepare, where
from maskbench._checks.errors import *  # noqa: F403
from maskbench._checks.errors import __all__ as _errors
from maskbench._checks.losses import *  # noqa: F403
from maskbench._checks.losses import __all__ as _losses
from maskbench._checks.scalars import *  # noqa: F403
from maskbench._checks.scalars import __all__ as _scalars
from maskbench._checks.tensors import *  # noqa: F403
from maskbench._checks.tensors import __all__ as _tensors

#: everything other modules use: the error family and every check
__all__ = [*_errors, *_scalars, *_tensors, *_losses, "check_batch_values", "located", "prepare", "where"]

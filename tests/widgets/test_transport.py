"""The array trait: a change is a new object, and setting one never compares arrays elementwise."""

from __future__ import annotations

import numpy as np
import traitlets

from maskbench.widgets._transport import ArrayTrait


class Holder(traitlets.HasTraits):
    x = ArrayTrait()


class Counting(np.ndarray):
    """An array that counts its ``==`` calls (traitlets' default change check makes one per set)."""

    calls = 0

    def __eq__(self, other):
        Counting.calls += 1
        return super().__eq__(other)


def test_a_new_object_notifies_the_same_object_does_not() -> None:
    h, seen = Holder(), []
    h.observe(lambda change: seen.append(change["new"] is None), "x")
    a = np.zeros((4, 4), np.uint8)
    h.x = a
    h.x = a  # the same object: no change
    h.x = a.copy()  # equal values, a new object: a change (arrays are reassigned, never mutated)
    h.x = None
    h.x = None
    assert seen == [False, False, True]


def test_setting_never_compares_elementwise() -> None:
    h = Holder()
    h.x = np.zeros((8, 8), np.uint8).view(Counting)  # old value None: `None == array` would run ==
    h.x = np.ones((8, 8), np.uint8).view(Counting)
    assert Counting.calls == 0 and int(h.x.sum()) == 64

"""maskbench benchmarks: kernels and widget paths against the code people write today.

Run with ``make bench`` (``python -m benchmarks``). Every case times maskbench and its baseline in
the same process and reports ratios; nothing here is asserted in the test suite.
"""

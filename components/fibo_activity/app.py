"""Activity exporting `testing:fibo/fibo.fibo`.

The recursion is naive on purpose: the cost grows exponentially with `n`, which gives tests and benchmarks a
knob for CPU time that needs no I/O.
"""

from wit_world import exports

_U64_MASK = (1 << 64) - 1


def _fibo(n: int) -> int:
    if n <= 1:
        return n
    return _fibo(n - 1) + _fibo(n - 2)


class Fibo(exports.Fibo):
    def fibo(self, n: int) -> int:
        # The WIT result is u64; wrap like the original's unsigned arithmetic would rather than fail lowering.
        return _fibo(n) & _U64_MASK

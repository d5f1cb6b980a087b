# mypy: ignore-errors
"""Workflow guest of the tests of tests/wit; only its imports and exports matter, it is never run there."""

from wit_world import exports


class Workflow(exports.Workflow):
    def fiboa(self, n: int, iterations: int) -> int:
        from wit_world.imports import testing_fibo_fibo as fibo

        return sum(fibo.fibo(n) for _ in range(iterations))

    def fiboa_concurrent(self, n: int, iterations: int) -> int:
        from wit_world.imports import host_activities
        from wit_world.imports import testing_fibo_obelisk_ext_fibo as fibo_obelisk_ext

        join_set = host_activities.new_join_set()
        for _ in range(iterations):
            fibo_obelisk_ext.fibo_submit(join_set, n)
        total = 0
        for _ in range(iterations):
            _child, value = fibo_obelisk_ext.fibo_await_next(join_set)
            total += value
        return total

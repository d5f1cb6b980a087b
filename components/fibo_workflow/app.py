"""Workflow exporting `testing:fibo-workflow/{workflow,workflow-nesting}` (the original's fibo workflow).

Everything that must survive a crash goes through imported functions (activities, child workflows, join sets):
the engine records each call and replays this code against the record after an interruption.
"""

from wit_world import exports
from wit_world.imports import host_activities, workflow_nesting
from wit_world.imports import testing_fibo_fibo as fibo_activity
from wit_world.imports import testing_fibo_obelisk_ext_fibo as fibo_ext
from wit_world.imports import workflow as workflow_ext


def _fibo(n: int) -> int:
    return n if n <= 1 else _fibo(n - 1) + _fibo(n - 2)


class Workflow(exports.Workflow):
    def fibow(self, n: int, iterations: int) -> int:
        last = 0
        for _ in range(iterations):
            last = _fibo(n)
        return last

    def fiboa(self, n: int, iterations: int) -> int:
        last = 0
        for _ in range(iterations):
            last = fibo_activity.fibo(n)
        return last

    def fiboa_concurrent(self, n: int, iterations: int) -> int:
        join_set = host_activities.new_join_set()
        for _ in range(iterations):
            fibo_ext.fibo_submit(join_set, n)
        last = 0
        for _ in range(iterations):
            _execution_id, last = fibo_ext.fibo_await_next(join_set)
        return last


class WorkflowNesting(exports.WorkflowNesting):
    def fibo_nested_workflow(self, n: int) -> int:
        if n <= 1:
            return 1
        return workflow_nesting.fibo_nested_workflow(n - 1) + workflow_nesting.fibo_nested_workflow(n - 2)

    def fibo_start_fiboas(self, n: int, fiboas: int, iterations_per_fiboa: int) -> int:
        join_set = host_activities.new_join_set()
        for _ in range(fiboas):
            workflow_ext.fiboa_concurrent_submit(join_set, n, iterations_per_fiboa)
        last = 0
        for _ in range(fiboas):
            _execution_id, last = workflow_ext.fiboa_concurrent_await_next(join_set)
        return last

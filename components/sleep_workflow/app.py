"""Workflow exporting `testing:sleep-workflow/workflow`: durable sleeps, blocking activities, rescheduling."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host_activities, time
from wit_world.imports import testing_sleep_obelisk_ext_sleep as sleep_ext
from wit_world.imports import testing_sleep_sleep as sleep_activity
from wit_world.imports import testing_sleep_workflow_obelisk_ext_workflow as workflow_ext
from wit_world.imports.execution import ExecutionId


class Workflow(exports.Workflow):
    def sleep_host_activity(self, duration: time.Duration) -> None:
        host_activities.sleep(duration)

    def sleep_activity(self, duration: time.Duration) -> None:
        sleep_activity.sleep(duration)

    def sleep_activity_submit(self, duration: time.Duration) -> ExecutionId:
        join_set = host_activities.new_join_set()
        return sleep_ext.sleep_submit(join_set, duration)

    def await_sleep_activity(self, duration: time.Duration) -> str:
        join_set = host_activities.new_join_set()
        workflow_ext.sleep_activity_submit(join_set, duration)
        try:
            execution_id = workflow_ext.sleep_activity_await_next(join_set)
        except Err as error:
            execution_id, execution_error = error.value
            return f"err {execution_id.id} {type(execution_error).__name__} {getattr(execution_error, 'value', '')}"
        return f"ok {execution_id.id}"

    def reschedule(self, duration: time.Duration, iterations: int) -> None:
        if iterations > 0:
            workflow_ext.reschedule_schedule(time.ScheduleAt_In(duration), duration, iterations - 1)

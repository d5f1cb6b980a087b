"""The fibo webhook of docs/compatibility.md#the-fibo-example, mounted on `/fibo/:N/:ITERATIONS`.

The route parameters arrive as environment variables. They are read through `wasi:cli/environment` at call time
(componentize-py's `os.environ` was captured when the component was pre-initialised at build time).
"""

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import environment, log, time
from wit_world.imports import testing_fibo_workflow_obelisk_ext_workflow as workflow_ext
from wit_world.imports import testing_fibo_workflow_workflow as workflow
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam


def _answer(response_out: ResponseOutparam, status: int, text: str) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain; charset=utf-8")]))
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with body.write() as stream:
        stream.blocking_write_and_flush(text.encode())
    OutgoingBody.finish(body, None)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        env = dict(environment.get_environment())
        n = int(env["N"])
        iterations = int(env["ITERATIONS"])
        if not 0 <= n <= 255 or not 0 <= iterations < 2**32:
            _answer(response_out, 400, f"N must be a u8 and ITERATIONS a u32, got {n} and {iterations}\n")
            return
        if n >= 10:
            execution_id = workflow_ext.fiboa_schedule(time.ScheduleAt_Now(), n, iterations)
            text = f"fiboa({n}, {iterations}) = scheduled: {execution_id.id}"
        elif n > 1:
            text = f"fiboa({n}, {iterations}) = direct call: {workflow.fiboa(n, iterations)}"
        else:
            text = f"fiboa({n}, {iterations}) = hardcoded: 1"
        log.info(text)
        _answer(response_out, 200, text)

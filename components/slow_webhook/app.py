"""A webhook that takes as long as it is asked to, in the three ways a request can be slow.

* `/sleep/:MILLIS` calls `testing:sleep-workflow/workflow.sleep-host-activity` directly: the guest waits in a host
  call for a child execution (a durable timer, so the child holds no thread) and answers `slept MILLIS ms`.
* `/spin` computes forever: only an epoch deadline stops it.
* `/nap/:MILLIS` blocks in `time.sleep`, a `wasi:io/poll` of a monotonic-clock timer, and answers `napped`.

Route parameters arrive as environment variables, read through `wasi:cli/environment` at call time.
"""

import time

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import environment, log
from wit_world.imports import workflow as sleep_workflow
from wit_world.imports.time import Duration_Milliseconds
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam


def _answer(response_out: ResponseOutparam, text: str) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain; charset=utf-8")]))
    response.set_status_code(200)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with body.write() as stream:
        stream.blocking_write_and_flush(text.encode())
    OutgoingBody.finish(body, None)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = request.path_with_query() or "/"
        env = dict(environment.get_environment())
        if path.startswith("/sleep/"):
            millis = int(env["MILLIS"])
            log.info(f"sleeping {millis} ms in a child execution")
            sleep_workflow.sleep_host_activity(Duration_Milliseconds(millis))
            _answer(response_out, f"slept {millis} ms")
        elif path.startswith("/nap/"):
            time.sleep(int(env["MILLIS"]) / 1000)
            _answer(response_out, "napped")
        else:
            counter = 0
            while True:
                counter += 1

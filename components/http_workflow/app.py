"""Workflow exporting `testing:http-workflow/workflow`: HTTP requests made by the HTTP activity, recorded."""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import host_activities, log
from wit_world.imports import testing_http_http_get as http
from wit_world.imports import testing_http_obelisk_ext_http_get as http_ext


class Workflow(exports.Workflow):
    def get(self, url: str) -> str:
        return http.get(url)

    def get_resp(self, url: str) -> str:
        response = http.get_resp(url)
        return bytes(response.body).decode("utf-8", "replace")

    def get_stargazers(self) -> None:
        http.get_stargazers()

    def get_successful(self, url: str) -> str:
        return http.get_successful(url)

    def get_successful_concurrently(self, urls: list[str]) -> list[str]:
        join_set = host_activities.new_join_set()
        for url in urls:
            http_ext.get_successful_submit(join_set, url)
        bodies = []
        for _ in urls:
            execution_id, result = http_ext.get_successful_await_next(join_set)
            if isinstance(result, Err):
                log.info(f"{execution_id.id} failed: {result.value}")
                raise Err(result.value)
            assert isinstance(result, Ok)
            bodies.append(result.value)
        return bodies

    def get_successful_concurrently_stress(self, url: str, concurrency: int) -> list[str]:
        return self.get_successful_concurrently([url] * concurrency)

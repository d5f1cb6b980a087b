"""The pure replay machine: every host call new and replayed, blocking, interrupts, closing, batching, mismatches.

The tests drive the machine the way the host layer will: a small in-memory ``World`` plays storage (an event log
with versions, a response stream with cursors, the children that were created) and a ``Host`` flushes when the
machine says so and answers blocked awaits. Scripted guests (plain Python functions calling the host) run once to
record a history, then run again against that history, which must write nothing and yield identical values.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from obelisk.concepts.events import (
    ChildExecutionFinished,
    ChildExecutionRequest,
    Created,
    DelayFinished,
    DelayRequest,
    ExecutionEvent,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetResponseEvent,
    Locked,
    Schedule,
    ScheduleAt,
    ScheduleIn,
    ScheduleNow,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, DeterministicIds, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.workers.workflow import (
    AwaitResult,
    Blocked,
    ChildCreation,
    NondeterminismError,
    Ready,
    ReplayMachine,
    ReplayProtocolError,
    ScheduledCreation,
    WorkflowError,
)

EXEC = ExecutionId.from_parts(1_700_000_000_000, 0x1234_5678_9ABC_DEF0_1234)
SCHEDULED_AT = 5_000_000
ADD = Ffqn.parse("testing:math/ops.add")
DOUBLE = Ffqn.parse("testing:math/ops@1.0.0.double")
FAR = 10**12


def child_value(ffqn: Ffqn, params: list[Any]) -> int:
    """What a child returns: a pure function of its call, so replays can be compared."""
    return sum(params) if ffqn == ADD else 2 * params[0]


# ============================================================================================== the test host
class Interrupted(Exception):
    """The run was aborted while blocked (interrupt strategy); a new run replays it."""


class World:
    """Storage of one execution, in memory: log, responses, created children and the clock of the 'real' world."""

    def __init__(self, *, seed: int = 0, interleave: bool = False) -> None:
        created = Created(ADD, [], SCHEDULED_AT, "workflow:w:0", 2**32 - 1, 1000)
        self.log: list[ExecutionEvent] = [ExecutionEvent(0, SCHEDULED_AT, created)]
        self.responses: list[JoinSetResponseEvent] = []
        self.children: dict[ExecutionId, ChildCreation] = {}
        self.scheduled: list[ScheduledCreation] = []
        self.requests: list[tuple[JoinSetId, ExecutionId | DelayId]] = []
        self.answered: set[str] = set()
        self.flushes: list[int] = []
        self.now = SCHEDULED_AT + 1_000
        self.rng = random.Random(seed)
        self.interleave = interleave

    def lock(self) -> None:
        """A new run locks the execution: a non-history event the machine must skip."""
        run = Locked("workflow:w:0", ExecutorId.generate(1), RunId.generate(1), self.now + FAR)
        self.log.append(ExecutionEvent(len(self.log), self.now, run))

    def machine(self, batch_limit: int = 100) -> ReplayMachine:
        self.lock()
        return ReplayMachine(
            execution_id=EXEC,
            scheduled_at=SCHEDULED_AT,
            history=list(self.log),
            responses=list(self.responses),
            next_version=len(self.log),
            batch_limit=batch_limit,
        )

    def flush(self, machine: ReplayMachine) -> None:
        writes = machine.take_pending()
        assert writes.version == len(self.log), "pending writes must start at the log's next version"
        for event in writes.events:
            self.log.append(ExecutionEvent(len(self.log), self.now, event))
            if isinstance(event, JoinSetRequest):
                request = event.request
                rid = request.child_execution_id if isinstance(request, ChildExecutionRequest) else request.delay_id
                self.requests.append((event.join_set_id, rid))
        requested = {
            e.request.child_execution_id
            for e in writes.events
            if isinstance(e, JoinSetRequest) and isinstance(e.request, ChildExecutionRequest)
        }
        for child in writes.children:
            assert child.child_id in requested, "a child is created together with its request"
            assert child.child_id not in self.children
            self.children[child.child_id] = child
        self.scheduled.extend(writes.scheduled)
        self.flushes.append(len(writes.events))
        self.now += 10

    def respond(self, join_set_id: JoinSetId, rid: ExecutionId | DelayId) -> JoinSetResponseEvent:
        self.answered.add(rid)
        if isinstance(rid, ExecutionId):
            child = self.children[rid]
            body: ChildExecutionFinished | DelayFinished = ChildExecutionFinished(
                rid, Ok(ReturnValue(child_value(child.ffqn, child.params)))
            )
        else:
            body = DelayFinished(rid)
        response = JoinSetResponseEvent(len(self.responses) + 1, self.now, join_set_id, body)
        self.responses.append(response)
        self.now += 100
        return response

    def outstanding(self, join_set_id: JoinSetId | None = None) -> list[tuple[JoinSetId, ExecutionId | DelayId]]:
        return [
            (js, rid)
            for js, rid in self.requests
            if rid not in self.answered and (join_set_id is None or js == join_set_id)
        ]

    def answer(self, join_set_id: JoinSetId) -> list[JoinSetResponseEvent]:
        """Responses that arrive while the workflow waits on ``join_set_id``: maybe others first, then one of it."""
        arrived = []
        if self.interleave:
            others = [req for req in self.outstanding() if req[0] != join_set_id]
            for js, rid in self.rng.sample(others, self.rng.randint(0, len(others))):
                arrived.append(self.respond(js, rid))
        mine = self.outstanding(join_set_id)
        assert mine, f"blocked on {join_set_id} with nothing outstanding"
        js, rid = mine[self.rng.randrange(len(mine))] if self.interleave else mine[0]
        arrived.append(self.respond(js, rid))
        return arrived


class Host:
    """Drives the machine like the host layer: flush when told, wait (or interrupt) when blocked."""

    def __init__(self, world: World, machine: ReplayMachine, strategy: str = "await") -> None:
        self.world = world
        self.machine = machine
        self.strategy = strategy  # "await", "interrupt" or "replay" (nothing may be written or awaited)

    def _after(self) -> None:
        if self.machine.must_flush:
            self.flush()

    def flush(self) -> None:
        if self.strategy == "replay":
            assert not self.machine.has_pending, f"replay wrote {self.machine.take_pending()}"
            return
        self.world.flush(self.machine)

    def _wait(self, result: AwaitResult) -> JoinSetResponseEvent:
        self._after()
        while isinstance(result, Blocked):
            assert not self.machine.has_pending, "a blocked await must have been flushed"
            assert self.strategy != "replay", f"replay blocked on {result.join_set_id}"
            if self.strategy == "interrupt":
                raise Interrupted(result.join_set_id)
            for response in self.world.answer(result.join_set_id):
                self.machine.feed_response(response)
            result = self.machine.resume()
        return result.response

    def new_join_set(self) -> JoinSetId:
        join_set_id = self.machine.new_join_set()
        self._after()
        return join_set_id

    def submit(self, join_set_id: JoinSetId, ffqn: Ffqn, params: list[Any]) -> ExecutionId:
        child_id = self.machine.submit(join_set_id, ffqn, params)
        self._after()
        return child_id

    def schedule(self, at: ScheduleAt, ffqn: Ffqn, params: list[Any]) -> ExecutionId:
        execution_id = self.machine.schedule(at, ffqn, params)
        self._after()
        return execution_id

    def await_next(self, join_set_id: JoinSetId) -> JoinSetResponseEvent:
        return self._wait(self.machine.await_next(join_set_id, run_expires_at=self.world.now + FAR))

    def call(self, ffqn: Ffqn, params: list[Any]) -> JoinSetResponseEvent:
        return self._wait(self.machine.call(ffqn, params, run_expires_at=self.world.now + FAR))

    def sleep(self, duration_us: int) -> JoinSetResponseEvent:
        return self._wait(self.machine.sleep(duration_us, now_us=self.world.now, run_expires_at=self.world.now + FAR))

    def finish(self) -> None:
        """What the host does after the function returned: check, close join sets, check again, flush."""
        self.machine.check_finished_replay()
        while (join_set_id := self.machine.next_join_set_to_close()) is not None:
            self._wait(self.machine.await_next(join_set_id, run_expires_at=self.world.now + FAR, closing=True))
        self.machine.check_finished_replay(after_closing=True)
        if self.machine.has_pending:
            self.flush()


Guest = Callable[[Host], Any]


def run_to_completion(world: World, guest: Guest, strategy: str = "await") -> tuple[Any, int]:
    """Runs the guest until it returns, replaying from scratch after every interrupt; returns (value, runs)."""
    runs = 0
    while True:
        runs += 1
        host = Host(world, world.machine(), strategy)
        try:
            value = guest(host)
            host.finish()
        except Interrupted as blocked:
            (join_set_id,) = blocked.args
            world.answer(join_set_id)  # the response arrives while no instance runs
            continue
        assert not host.machine.has_pending
        return value, runs


def replay(world: World, guest: Guest) -> Any:
    """Runs the guest against the recorded history: it must write nothing, block nowhere and finish cleanly."""
    host = Host(world, world.machine(), "replay")
    value = guest(host)
    host.finish()
    assert not host.machine.is_replaying
    assert not host.machine.has_pending
    return value


def history(world: World) -> list[Any]:
    return [e.event for e in world.log if isinstance(e.event, JoinSetCreated | JoinSetRequest | JoinNext | Schedule)]


def ids() -> DeterministicIds:
    return DeterministicIds(EXEC)


def fresh(batch_limit: int = 100) -> ReplayMachine:
    return ReplayMachine(
        execution_id=EXEC, scheduled_at=SCHEDULED_AT, history=[], responses=[], next_version=1, batch_limit=batch_limit
    )


# ============================================================================================== each call kind
def every_kind_guest(host: Host) -> list[Any]:
    seen: list[Any] = [("clock", host.machine.clock_us)]
    js = host.new_join_set()
    first = host.submit(js, ADD, [1, 2])
    second = host.submit(js, DOUBLE, [5])
    scheduled = host.schedule(ScheduleIn(60_000_000), ADD, [7, 7])
    seen += [js, first, second, scheduled]
    seen.append(host.await_next(js))
    seen.append(("clock", host.machine.clock_us))
    seen.append(host.await_next(js))
    seen.append(host.call(DOUBLE, [21]))
    seen.append(("clock", host.machine.clock_us))
    seen.append(host.sleep(3_000_000))
    seen.append(("clock", host.machine.clock_us))
    return seen


def test_every_call_kind_is_recorded_then_replayed_without_writes() -> None:
    world = World()
    value, runs = run_to_completion(world, every_kind_guest)
    assert runs == 1
    gen = ids()
    js, scheduled, call_js, sleep_js = gen.join_set_id(), gen.execution_id(), gen.join_set_id(), gen.join_set_id()
    delay = gen.delay_id()
    expected_history = [
        JoinSetCreated(js),
        JoinSetRequest(js, ChildExecutionRequest(EXEC.child(0))),
        JoinSetRequest(js, ChildExecutionRequest(EXEC.child(1))),
        Schedule(scheduled, ScheduleIn(60_000_000)),
        JoinNext(js, history(world)[4].run_expires_at),
        JoinNext(js, history(world)[5].run_expires_at),
        JoinSetCreated(call_js),
        JoinSetRequest(call_js, ChildExecutionRequest(EXEC.child(2))),
        JoinNext(call_js, history(world)[8].run_expires_at),
        JoinSetCreated(sleep_js),
    ]
    recorded = history(world)
    assert recorded[: len(expected_history)] == expected_history
    sleep_request = recorded[10]
    assert isinstance(sleep_request, JoinSetRequest) and isinstance(sleep_request.request, DelayRequest)
    assert sleep_request.request.delay_id == delay
    assert recorded[11] == JoinNext(sleep_js, recorded[11].run_expires_at)
    assert len(recorded) == 12
    assert value[1:5] == [js, EXEC.child(0), EXEC.child(1), scheduled]
    assert [c.child_id for c in world.children.values()] == [EXEC.child(0), EXEC.child(1), EXEC.child(2)]
    assert world.children[EXEC.child(2)] == ChildCreation(EXEC.child(2), DOUBLE, [21], call_js)
    assert world.scheduled == [ScheduledCreation(scheduled, ADD, [7, 7], ScheduleIn(60_000_000))]
    assert value[5].response == ChildExecutionFinished(EXEC.child(0), Ok(ReturnValue(3)))
    assert value[7].response == ChildExecutionFinished(EXEC.child(1), Ok(ReturnValue(10)))
    assert value[8].response == ChildExecutionFinished(EXEC.child(2), Ok(ReturnValue(42)))
    assert value[10].response == DelayFinished(delay)

    log_length = len(world.log)
    assert replay(world, every_kind_guest) == value
    assert len(world.log) == log_length + 1  # only the replay's own Locked event


def test_clock_is_scheduled_at_first_then_follows_consumed_responses() -> None:
    world = World()
    value, _ = run_to_completion(world, every_kind_guest)
    clocks = [v[1] for v in value if isinstance(v, tuple) and v and v[0] == "clock"]
    created = [r.created_at for r in world.responses]
    assert clocks == [SCHEDULED_AT, created[0], created[2], created[3]]
    assert replay(world, every_kind_guest) == value


def test_child_ids_count_submits_and_direct_calls_in_call_order() -> None:
    def guest(host: Host) -> list[Any]:
        js = host.new_join_set()
        a = host.submit(js, ADD, [1])
        host.call(ADD, [2])
        b = host.submit(js, ADD, [3])
        host.sleep(1)  # a delay is not a child
        host.call(ADD, [4])
        c = host.submit(js, ADD, [5])
        return [a, b, c]

    world = World()
    value, _ = run_to_completion(world, guest)
    assert value == [EXEC.child(0), EXEC.child(2), EXEC.child(4)]
    assert list(world.children) == [EXEC.child(n) for n in range(5)]
    assert str(EXEC.child(4)) == f"{EXEC}.4"
    assert replay(world, guest) == value


def test_deterministic_ids_agree_across_machines_and_differ_between_executions() -> None:
    def draw(machine: ReplayMachine) -> list[str]:
        js = machine.new_join_set()
        return [js, machine.schedule(ScheduleNow(), ADD, []), machine.new_join_set(), machine.submit(js, ADD, [])]

    assert draw(fresh()) == draw(fresh())
    other = ReplayMachine(
        execution_id=ExecutionId.from_parts(1_700_000_000_000, 99),
        scheduled_at=0,
        history=[],
        responses=[],
        next_version=1,
    )
    assert set(draw(other)).isdisjoint(draw(fresh()))


# ============================================================================================== blocking
def test_direct_call_blocks_then_fed_response_resumes_without_second_join_next() -> None:
    machine = fresh()
    result = machine.call(ADD, [1, 1], run_expires_at=77)
    assert isinstance(result, Blocked)
    assert machine.must_flush and machine.awaiting == result.join_set_id
    writes = machine.take_pending()
    js = result.join_set_id
    assert writes.version == 1
    assert writes.events == [
        JoinSetCreated(js),
        JoinSetRequest(js, ChildExecutionRequest(EXEC.child(0))),
        JoinNext(js, 77),
    ]
    assert writes.children == [ChildCreation(EXEC.child(0), ADD, [1, 1], js)]
    assert machine.next_version == 4 and not machine.must_flush

    assert machine.resume() == Blocked(js)  # woken without a response: still blocked, still nothing to write
    response = JoinSetResponseEvent(9, SCHEDULED_AT + 500, js, ChildExecutionFinished(EXEC.child(0), Ok(None)))
    machine.feed_response(response)
    assert machine.resume() == Ready(response)
    assert not machine.has_pending and machine.awaiting is None
    assert machine.clock_us == SCHEDULED_AT + 500
    with pytest.raises(ReplayProtocolError, match="without a blocked await-next"):
        machine.resume()


def test_host_call_while_blocked_is_a_protocol_error() -> None:
    machine = fresh()
    result = machine.sleep(1000, now_us=0, run_expires_at=0)
    assert isinstance(result, Blocked)
    with pytest.raises(ReplayProtocolError, match=f"blocked.*{result.join_set_id}|{result.join_set_id}.*blocked"):
        machine.new_join_set()


def test_await_next_with_response_already_there_records_join_next_and_returns_ready() -> None:
    machine = fresh()
    js = machine.new_join_set()
    child = machine.submit(js, ADD, [])
    machine.take_pending()
    response = JoinSetResponseEvent(1, 123, js, ChildExecutionFinished(child, Ok(None)))
    machine.feed_response(response)
    machine.feed_response(response)  # a re-read of the same cursor is ignored
    assert machine.await_next(js, run_expires_at=5) == Ready(response)
    assert machine.must_flush
    assert machine.take_pending().events == [JoinNext(js, 5)]
    with pytest.raises(WorkflowError, match=f"await-next on join set {js} with no unanswered request"):
        machine.await_next(js, run_expires_at=5)


def test_a_response_fed_twice_is_consumed_once() -> None:
    machine = fresh()
    js = machine.new_join_set()
    first, second = machine.submit(js, ADD, []), machine.submit(js, ADD, [])
    response = JoinSetResponseEvent(1, SCHEDULED_AT + 1, js, ChildExecutionFinished(first, Ok(None)))
    machine.feed_response(response)
    assert machine.await_next(js, run_expires_at=0) == Ready(response)
    machine.feed_response(response)  # the host re-read the response stream while waiting
    assert machine.await_next(js, run_expires_at=0) == Blocked(js)
    later = JoinSetResponseEvent(2, SCHEDULED_AT + 2, js, ChildExecutionFinished(second, Ok(None)))
    machine.feed_response(later)
    assert machine.resume() == Ready(later)


@pytest.mark.parametrize("interleave", [False, True])
def test_interrupt_strategy_replays_from_scratch_after_every_block(interleave: bool) -> None:
    world = World(seed=3, interleave=interleave)
    value, runs = run_to_completion(world, every_kind_guest, strategy="interrupt")
    # four awaited responses (two await-next, one call, one sleep); with interleaving some arrive before their await
    assert runs == 5 if not interleave else 2 <= runs <= 5
    # every JoinNext recorded exactly once although each was replayed in later runs
    join_nexts = [e for e in history(world) if isinstance(e, JoinNext)]
    assert len(join_nexts) == 4
    if not interleave:
        awaited = World(seed=3)
        assert run_to_completion(awaited, every_kind_guest)[0] == value
        assert history(awaited) == history(world)
    assert replay(world, every_kind_guest) == value


def test_new_run_blocked_on_recorded_join_next_writes_nothing() -> None:
    world = World()

    def guest(host: Host) -> Any:
        return host.call(ADD, [1])

    host = Host(world, world.machine(), "interrupt")
    with pytest.raises(Interrupted):
        guest(host)
    log_length = len(world.log)
    # the response has not arrived yet: the next run replays the JoinNext and blocks again without writing
    machine = world.machine()
    result = machine.call(ADD, [1], run_expires_at=0)
    assert isinstance(result, Blocked)
    assert not machine.has_pending and not machine.must_flush and not machine.is_replaying
    assert len(world.log) == log_length + 1
    # the response arrives; the run after that replays everything and gets it
    world.answer(result.join_set_id)
    machine = world.machine()
    assert machine.is_replaying
    ready = machine.call(ADD, [1], run_expires_at=0)
    assert isinstance(ready, Ready) and ready.response == world.responses[0]
    assert not machine.has_pending and not machine.is_replaying


def test_responses_are_consumed_per_join_set_in_arrival_order() -> None:
    machine = fresh()
    a, b = machine.new_join_set(), machine.new_join_set()
    c0, c1, c2, c3 = (
        machine.submit(a, ADD, []),
        machine.submit(b, ADD, []),
        machine.submit(a, ADD, []),
        machine.submit(b, ADD, []),
    )
    machine.take_pending()
    T = SCHEDULED_AT
    arrivals = [(a, c2, T + 100), (b, c3, T + 200), (b, c1, T + 300), (a, c0, T + 400)]
    responses = [
        JoinSetResponseEvent(n, at, js, ChildExecutionFinished(child, Ok(None)))
        for n, (js, child, at) in enumerate(arrivals, 1)
    ]
    for response in responses:
        machine.feed_response(response)

    def take(js: JoinSetId) -> ExecutionId:
        result = machine.await_next(js, run_expires_at=0)
        assert isinstance(result, Ready) and isinstance(result.response.response, ChildExecutionFinished)
        return result.response.response.child_execution_id

    assert take(b) == c3
    assert machine.clock_us == T + 200
    assert take(a) == c2
    assert machine.clock_us == T + 200  # the clock never goes back
    assert take(a) == c0
    assert machine.clock_us == T + 400
    assert take(b) == c1
    assert machine.clock_us == T + 400


# ============================================================================================== misuse
def test_await_next_on_empty_join_set_is_a_workflow_error_naming_it() -> None:
    machine = fresh()
    js = machine.new_join_set()
    with pytest.raises(WorkflowError, match=f"await-next on join set {js} with no unanswered request"):
        machine.await_next(js, run_expires_at=0)
    assert machine.take_pending().events == [JoinSetCreated(js)]  # no JoinNext recorded for it


def test_submit_or_await_on_unknown_join_set_is_a_workflow_error() -> None:
    machine = fresh()
    stranger = JoinSetId.from_parts(1, 2)
    with pytest.raises(WorkflowError, match=f"join set {stranger}, which this execution never created"):
        machine.submit(stranger, ADD, [])
    with pytest.raises(WorkflowError, match=str(stranger)):
        machine.await_next(stranger, run_expires_at=0)


def test_next_version_must_be_past_the_history() -> None:
    js = ids().join_set_id()
    with pytest.raises(ReplayProtocolError, match="next_version 3"):
        ReplayMachine(
            execution_id=EXEC,
            scheduled_at=0,
            history=[ExecutionEvent(3, 0, JoinSetCreated(js))],
            responses=[],
            next_version=3,
        )


# ============================================================================================== nondeterminism
def recorded_world(guest: Guest) -> World:
    world = World()
    run_to_completion(world, guest)
    return world


def submit_and_await(host: Host) -> Any:
    js = host.new_join_set()
    host.submit(js, ADD, [1])
    return host.await_next(js)


def test_different_call_kind_is_nondeterminism_naming_call_version_and_record() -> None:
    world = recorded_world(submit_and_await)
    js = ids().join_set_id()
    machine = world.machine()
    machine.new_join_set()
    version = next(e.version for e in world.log if isinstance(e.event, JoinSetRequest))
    with pytest.raises(NondeterminismError) as caught:
        machine.new_join_set()
    message = str(caught.value)
    other = DeterministicIds(EXEC)
    other.join_set_id()
    assert message == (
        f"unexpected new-join-set (JoinSetCreated({other.join_set_id()})) at version {version}: "
        f"history has JoinSetRequest({js}, child {EXEC.child(0)})"
    )


def test_schedule_instead_of_submit_is_nondeterminism() -> None:
    world = recorded_world(submit_and_await)
    machine = world.machine()
    machine.new_join_set()
    with pytest.raises(NondeterminismError, match=r"unexpected testing:math/ops.add-schedule \(Schedule\(E_"):
        machine.schedule(ScheduleNow(), ADD, [1])


def test_await_on_different_join_set_is_nondeterminism() -> None:
    def two_sets(host: Host) -> Any:
        a, b = host.new_join_set(), host.new_join_set()
        host.submit(a, ADD, [1])
        host.submit(b, ADD, [2])
        return host.await_next(a)

    world = recorded_world(two_sets)
    machine = world.machine()
    a, b = machine.new_join_set(), machine.new_join_set()
    machine.submit(a, ADD, [1])
    machine.submit(b, ADD, [2])
    with pytest.raises(NondeterminismError, match=f"unexpected await-next \\(JoinNext\\({b}\\)\\).*JoinNext\\({a}\\)"):
        machine.await_next(b, run_expires_at=0)


def test_closing_flag_is_part_of_the_join_next_key() -> None:
    world = recorded_world(submit_and_await)
    machine = world.machine()
    js = machine.new_join_set()
    machine.submit(js, ADD, [1])
    with pytest.raises(NondeterminismError, match="await-next \\(closing\\)"):
        machine.await_next(js, run_expires_at=0, closing=True)


def test_different_delay_is_nondeterminism_but_a_different_expiry_is_not() -> None:
    world = recorded_world(lambda host: host.sleep(1_000))
    recorded = history(world)[1]
    assert isinstance(recorded, JoinSetRequest) and isinstance(recorded.request, DelayRequest)
    # the replay computes another expiry from another "now": the recorded one wins, no mismatch, no write
    machine = world.machine()
    result = machine.sleep(5_000_000, now_us=10**9, run_expires_at=0)
    assert isinstance(result, Ready) and result.response.response == DelayFinished(recorded.request.delay_id)
    assert not machine.has_pending
    # a history written by hand whose delay request names another delay in the same join set
    gen = ids()
    js, delay = gen.join_set_id(), gen.delay_id()
    foreign = DelayId.from_parts(1, 1)
    machine = ReplayMachine(
        execution_id=EXEC,
        scheduled_at=0,
        history=[
            ExecutionEvent(2, 0, JoinSetCreated(js)),
            ExecutionEvent(3, 0, JoinSetRequest(js, DelayRequest(foreign, 9))),
        ],
        responses=[],
        next_version=4,
    )
    with pytest.raises(NondeterminismError) as caught:
        machine.sleep(1_000, now_us=0, run_expires_at=0)
    assert str(caught.value) == (
        f"unexpected sleep (JoinSetRequest({js}, delay {delay} expiring at 1000)) at version 3: "
        f"history has JoinSetRequest({js}, delay {foreign} expiring at 9)"
    )


def test_sleep_instead_of_direct_call_is_nondeterminism_at_the_request() -> None:
    world = recorded_world(lambda host: host.call(ADD, [1]))
    machine = world.machine()
    with pytest.raises(NondeterminismError, match=r"unexpected sleep \(JoinSetRequest\(JoinSet_\w+, delay Delay_"):
        machine.sleep(1, now_us=0, run_expires_at=0)


def test_extra_calls_past_the_history_are_new_not_a_mismatch() -> None:
    world = recorded_world(submit_and_await)

    def longer(host: Host) -> Any:
        first = submit_and_await(host)
        assert host.machine.is_replaying == (host.strategy == "replay")  # the extension is new the first time
        return [first, host.call(DOUBLE, [4]), host.sleep(10)]

    before = len(history(world))
    value, _ = run_to_completion(world, longer)
    assert value[0] == world.responses[0]
    assert value[1].response == ChildExecutionFinished(EXEC.child(1), Ok(ReturnValue(8)))
    assert len(history(world)) == before + 6
    assert replay(world, longer) == value


def test_history_left_over_when_the_function_returns_is_nondeterminism() -> None:
    world = recorded_world(submit_and_await)
    machine = world.machine()
    machine.new_join_set()
    assert machine.is_replaying
    with pytest.raises(
        NondeterminismError, match=r"2 recorded history event\(s\) not replayed when the function returned"
    ):
        machine.check_finished_replay()


def test_leftover_closing_join_next_is_allowed_until_closing_is_done() -> None:
    def leave_open(host: Host) -> ExecutionId:
        return host.submit(host.new_join_set(), ADD, [1])

    world = recorded_world(leave_open)
    assert isinstance(history(world)[-1], JoinNext) and history(world)[-1].closing
    machine = world.machine()
    js = machine.new_join_set()
    machine.submit(js, ADD, [1])
    machine.check_finished_replay()  # the recorded closing JoinNext is still to come
    with pytest.raises(NondeterminismError, match="not replayed after closing its join sets: first is JoinNext"):
        machine.check_finished_replay(after_closing=True)


# ============================================================================================== closing
def test_closing_awaits_two_open_join_sets_in_creation_order() -> None:
    def open_sets(host: Host) -> list[Any]:
        a, b = host.new_join_set(), host.new_join_set()
        c = host.new_join_set()
        host.submit(b, ADD, [1])
        host.submit(a, ADD, [2])
        host.submit(b, ADD, [3])
        host.submit(c, ADD, [4])
        host.await_next(c)
        return [a, b]

    world = World()
    (a, b), _ = run_to_completion(world, open_sets)
    closing = [e for e in history(world) if isinstance(e, JoinNext) and e.closing]
    assert [e.join_set_id for e in closing] == [a, b, b]
    assert len(world.responses) == 4
    assert replay(world, open_sets) == [a, b]


def test_next_join_set_to_close_counts_only_child_requests() -> None:
    machine = fresh()
    blocked = machine.sleep(1, now_us=0, run_expires_at=0)
    assert isinstance(blocked, Blocked)
    machine.feed_response(JoinSetResponseEvent(1, 1, blocked.join_set_id, DelayFinished(DelayId.from_parts(1, 1))))
    machine.resume()
    assert machine.next_join_set_to_close() is None
    js = machine.new_join_set()
    assert machine.next_join_set_to_close() is None
    machine.submit(js, ADD, [])
    assert machine.next_join_set_to_close() == js


# ============================================================================================== batching
def test_non_blocking_events_are_batched_up_to_the_limit() -> None:
    machine = fresh(batch_limit=100)
    js = machine.new_join_set()
    machine.take_pending()
    flushed_at = []
    for n in range(1, 151):
        machine.submit(js, ADD, [n])
        if machine.must_flush:
            flushed_at.append(n)
            writes = machine.take_pending()
            assert len(writes.events) == len(writes.children) == 100
            assert writes.version == 2
    assert flushed_at == [100]
    assert not machine.must_flush
    rest = machine.take_pending()
    assert rest.version == 102 and len(rest.events) == 50
    assert [c.child_id for c in rest.children] == [EXEC.child(n) for n in range(100, 150)]
    assert machine.next_version == 152


def test_a_blocking_call_flushes_the_batch_with_it() -> None:
    world = World()

    def guest(host: Host) -> Any:
        js = host.new_join_set()
        for n in range(5):
            host.submit(js, ADD, [n])
        host.schedule(ScheduleNow(), DOUBLE, [1])
        return host.await_next(js)

    run_to_completion(world, guest)
    # one flush with the batch and the JoinNext, then the closing JoinNexts
    assert world.flushes[0] == 8
    assert len(world.children) == 5 and len(world.scheduled) == 1


# ============================================================================================== property style
def random_guest(seed: int) -> Guest:
    """A random but deterministic workflow: its choices depend only on its seed and on the values it received."""

    def guest(host: Host) -> list[Any]:
        rng = random.Random(seed)
        seen: list[Any] = []
        join_sets: list[JoinSetId] = []
        unanswered: dict[JoinSetId, int] = {}
        for _ in range(rng.randint(0, 25)):
            op = rng.choice(["new", "submit", "submit", "schedule", "await", "await", "call", "sleep", "clock"])
            if op == "new" or (op in ("submit", "await") and not join_sets):
                join_set_id = host.new_join_set()
                join_sets.append(join_set_id)
                unanswered[join_set_id] = 0
                seen.append(join_set_id)
            elif op == "submit":
                join_set_id = rng.choice(join_sets)
                seen.append(host.submit(join_set_id, rng.choice([ADD, DOUBLE]), [rng.randint(0, 9)]))
                unanswered[join_set_id] += 1
            elif op == "schedule":
                at: ScheduleAt = ScheduleNow() if rng.random() < 0.5 else ScheduleIn(rng.randint(1, 9))
                seen.append(host.schedule(at, ADD, [1]))
            elif op == "await":
                waiting = [js for js in join_sets if unanswered[js]]
                if not waiting:
                    continue
                join_set_id = rng.choice(waiting)
                response = host.await_next(join_set_id)
                unanswered[join_set_id] -= 1
                seen.append(response)
                body = response.response
                result = body.result if isinstance(body, ChildExecutionFinished) else None
                if isinstance(result, Ok) and result.value is not None and result.value.json % 2:
                    seen.append(host.call(DOUBLE, [result.value.json]))  # a branch on a received value
            elif op == "call":
                seen.append(host.call(ADD, [rng.randint(0, 9), 1]))
            elif op == "sleep":
                seen.append(host.sleep(rng.randint(1, 1000)))
            else:
                seen.append(("clock", host.machine.clock_us))
        return seen

    return guest


@pytest.mark.parametrize("seed", range(120))
def test_random_scripts_replay_against_their_own_history(seed: int) -> None:
    rng = random.Random(seed)
    strategy = rng.choice(["await", "interrupt"])
    world = World(seed=seed, interleave=rng.random() < 0.7)
    guest = random_guest(seed)
    value, _ = run_to_completion(world, guest, strategy)
    # the history is consistent: versions are the log's indexes, children match their requests one to one
    assert [e.version for e in world.log] == list(range(len(world.log)))
    requested = [
        e.request.child_execution_id
        for e in history(world)
        if isinstance(e, JoinSetRequest) and isinstance(e.request, ChildExecutionRequest)
    ]
    assert requested == list(world.children) == [EXEC.child(n) for n in range(len(requested))]
    assert not world.outstanding() or all(isinstance(rid, DelayId) for _, rid in world.outstanding())
    # replaying it twice more writes nothing, never blocks and sees exactly the same values
    assert replay(world, guest) == value
    assert replay(world, guest) == value

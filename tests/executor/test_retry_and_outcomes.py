"""The retry policy (docs/compatibility.md#retry-policy) and outcomes as events, without wasm or a database."""

from obelisk.concepts.events import (
    ChildExecutionFinished,
    Finished,
    ParentRef,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
)
from obelisk.concepts.ids import ExecutionId, JoinSetId
from obelisk.concepts.results import ExecutionFailure, FallibleError, Ok, ReturnValue, Timeout
from obelisk.concepts.retry import RetryPolicy
from obelisk.storage.interface import AppendEvents, DeliverResponse
from obelisk.workers.outcome import FailedPermanently, FailedTemporarily, Interrupted, Released, Succeeded, TimedOut
from obelisk.workers.outcome_events import RunContext, ops_for_expired_lock, ops_for_outcome

EXE = ExecutionId.generate()
PARENT = ParentRef(ExecutionId.generate(), JoinSetId.generate())
NOW = 1_000_000_000


def ctx(
    count: int = 0, *, max_retries: int = 2, retry_on_err: bool = True, parent: ParentRef | None = None
) -> RunContext:
    return RunContext(EXE, 5, parent, RetryPolicy(max_retries, 100_000), count, retry_on_err)


def test_backoff_doubles_while_retries_remain() -> None:
    policy = RetryPolicy(max_retries=3, retry_exp_backoff_us=100_000)
    assert [policy.backoff_us(n) for n in range(5)] == [100_000, 200_000, 400_000, None, None]


def test_zero_retries_means_no_retry() -> None:
    assert RetryPolicy(0, 100_000).backoff_us(0) is None


def test_unlimited_retries_do_not_overflow() -> None:
    policy = RetryPolicy(2**32 - 1, 1_000)
    assert policy.backoff_us(10_000) == 1_000 * 2**40


def test_success_finishes_and_answers_the_parent_in_one_batch() -> None:
    result = Ok(ReturnValue(55))
    ops = ops_for_outcome(ctx(parent=PARENT), Succeeded(result), NOW)
    assert ops == [
        AppendEvents(EXE, 5, [Finished(result)]),
        DeliverResponse(PARENT.execution_id, PARENT.join_set_id, ChildExecutionFinished(EXE, result)),
    ]


def test_trap_is_retried_with_backoff_then_fails_permanently() -> None:
    ops = ops_for_outcome(ctx(1), FailedTemporarily("trap", "wasm backtrace"), NOW)
    assert ops == [AppendEvents(EXE, 5, [TemporarilyFailed(NOW + 200_000, "trap", "wasm backtrace")])]
    ops = ops_for_outcome(ctx(2), FailedTemporarily("trap", "wasm backtrace"), NOW)
    assert ops == [AppendEvents(EXE, 5, [Finished(ExecutionFailure("permanently failed - trap", "wasm backtrace"))])]


def test_err_is_retried_only_when_retry_on_err() -> None:
    err = FallibleError(ReturnValue({"err": "boom"}))
    retried = ops_for_outcome(ctx(0), Succeeded(err), NOW)
    assert retried == [
        AppendEvents(EXE, 5, [TemporarilyFailed(NOW + 100_000, "activity returned an error", '{"err": "boom"}')])
    ]
    assert ops_for_outcome(ctx(0, retry_on_err=False), Succeeded(err), NOW) == [AppendEvents(EXE, 5, [Finished(err)])]
    assert ops_for_outcome(ctx(2), Succeeded(err), NOW) == [AppendEvents(EXE, 5, [Finished(err)])]


def test_timeout_is_retried_then_finishes_as_timeout() -> None:
    assert ops_for_outcome(ctx(0), TimedOut(), NOW) == [AppendEvents(EXE, 5, [TemporarilyTimedOut(NOW + 100_000)])]
    ops = ops_for_expired_lock(ctx(2, parent=PARENT), NOW)
    assert ops[0] == AppendEvents(EXE, 5, [Finished(Timeout())])
    assert ops[1] == DeliverResponse(PARENT.execution_id, PARENT.join_set_id, ChildExecutionFinished(EXE, Timeout()))


def test_permanent_interrupted_and_released() -> None:
    failure = ExecutionFailure("error parsing parameters: x")
    assert ops_for_outcome(ctx(0), FailedPermanently(failure), NOW) == [AppendEvents(EXE, 5, [Finished(failure)])]
    assert ops_for_outcome(ctx(0), Interrupted(), NOW) == []
    assert ops_for_outcome(ctx(0), Released("shutdown"), NOW) == [AppendEvents(EXE, 5, [Unlocked(NOW, "shutdown")])]

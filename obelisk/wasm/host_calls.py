"""Carrying Python exceptions from host functions back to the caller of a guest, per thread.

wasmtime-py hands an exception raised in a host call to the caller of the guest through a module global
(``wasmtime.component._enter.LAST_EXCEPTION``): its trampoline stores it there and returns a generic error, and
``Func.__call__`` raises whatever the global holds when the guest fails. With guests running on several threads
that global races: measured, ~5% of exceptions surfaced in the wrong thread or as a bare
``WasmtimeError("python exception")``. So every host call runs under ``catch_host_exceptions`` instead (the
engine installs it in place of wasmtime-py's ``catch_exceptions``, see ``fast_host_calls``): it parks the real
exception in a ``threading.local`` and returns a ``WasmtimeError``, and ``call_guest`` re-raises the parked
exception on the same thread. Host functions always run on the thread that entered the guest, so the slot is never
read by another thread. This covers what wasmtime-py does around the host function too: converting its arguments
and lowering its result (a result of the wrong type is a ``TypeError`` of the thread that returned it).

Everything that enters a guest must go through ``call_guest`` or ``instantiate_guest``. Host functions and resource
destructors need no wrapping of their own: every host call, whoever defined it, runs under
``catch_host_exceptions``.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

import wasmtime
from wasmtime import _ffi as wasmtime_ffi
from wasmtime import _value as wasmtime_value

from obelisk.concepts.errors import ObeliskError

P = ParamSpec("P")
R = TypeVar("R")

_INTERRUPT_REASON = "wasm trap: interrupt"
_CAUSED_BY = "Caused by:"


class _Slot(threading.local):
    exception: BaseException | None = None


_slot = _Slot()


class GuestError(ObeliskError):
    """A call into a guest failed inside the guest or the runtime (not in a host function).

    ``reason`` is the root cause wasmtime reports (e.g. ``wasm trap: wasm `unreachable` instruction executed``);
    ``backtrace`` is wasmtime's full text including the wasm backtrace, for logs and the execution's detail.
    The instance must not be entered again after this error.
    """

    def __init__(self, reason: str, backtrace: str):
        super().__init__(reason)
        self.reason = reason
        self.backtrace = backtrace


class GuestTrap(GuestError):
    """The guest trapped (``unreachable``, out-of-bounds access, ``exit``, ...)."""

    def __init__(self, reason: str, backtrace: str, exit_code: int | None = None):
        super().__init__(reason, backtrace)
        self.exit_code = exit_code


class GuestInterrupted(GuestError):
    """The store's epoch deadline passed while the guest was running: the attempt timed out."""


class GuestCallRefused(ObeliskError):
    """A host function refused a call the guest made: the guest's fault, not the host's (a stale resource handle,
    a function its kind of component may not call). The guest is unwound as by a trap; the worker reports the
    refusal, which names the call, as the failure of the attempt and in one line of the server's log, never as a
    crash of the host."""


class GuestInstantiationError(ObeliskError):
    """A component could not be instantiated: an import is not provided or has the wrong type."""


def catch_host_exceptions(context: Any, run: Callable[[wasmtime.StoreContext], None]) -> int:
    """Runs one host call for a wasmtime trampoline; the stand-in for wasmtime-py's ``catch_exceptions``.

    Returns what the C API expects of a host callback: 0 (null) on success, else a ``wasmtime_error_t``
    pointer for the guest to trap with. Every exception, ``BaseException`` included (ctypes would print and swallow
    it), is parked for ``call_guest`` to re-raise on this thread.
    """
    store = wasmtime.StoreContext(context)
    try:
        run(store)
    except BaseException as exc:
        _slot.exception = exc
        kind = type(exc).__name__
    else:
        return 0
    finally:
        store._invalidate()
    # Built outside the ``except`` so that it has no ``__context__``: through it, the error wasmtime keeps would
    # keep the parked exception's frames (and with them a workflow run and its Store) alive.
    error = wasmtime.WasmtimeError(f"host call raised {kind}")
    pointer: int | None = ctypes.cast(error._consume(), ctypes.c_void_p).value
    return pointer or 0


def call_guest(func: Any, store: Any, *args: Any) -> Any:
    """Calls a component ``Func`` and turns failures into the exception that explains them.

    * A host function raised: that original exception is re-raised (its type and traceback untouched).
    * The epoch deadline passed: ``GuestInterrupted``.
    * Anything else from wasmtime (a trap, a poisoned instance): ``GuestTrap``.

    Argument conversion errors (``TypeError``/``ValueError`` from wasmtime-py for mistyped params) happen before
    the guest is entered and propagate unchanged.
    """
    # Nothing can be in flight at entry: a parked exception always surfaces at the innermost call_guest on its
    # thread. Clearing guards against a Func called directly elsewhere that left one behind.
    _slot.exception = None
    try:
        return func(store, *args)
    except (wasmtime.WasmtimeError, wasmtime.Trap) as err:
        # wasmtime-py raises this error from a frame that holds it in a local: error -> traceback -> frame ->
        # error is a cycle that would keep every frame below (the run, its Store, ~3 MiB of instance) alive until
        # the cyclic collector runs. Only the message is used from here on.
        err.__traceback__ = None
        failure = _explain(err)
    try:
        raise failure
    finally:
        # traceback -> this frame -> ``failure`` -> traceback would be a cycle keeping the Store (and its
        # buffered guest output) alive until the next GC run.
        del failure


def instantiate_guest(linker: Any, store: Any, component: Any, *, what: str) -> Any:
    """``linker.instantiate`` with the same exception routing as ``call_guest`` (start functions may call host
    functions); a linking failure becomes ``GuestInstantiationError`` naming ``what`` (e.g. the component id).
    """
    _slot.exception = None
    try:
        return linker.instantiate(store, component)
    except (wasmtime.WasmtimeError, wasmtime.Trap) as err:
        err.__traceback__ = None  # see call_guest
        parked = take_parked_exception()
        if parked is None and "wasm trap" not in str(err):
            failure: BaseException = GuestInstantiationError(f"cannot instantiate {what}: {str(err).strip()}")
        else:
            failure = parked if parked is not None else classify_error(err)
    try:
        raise failure
    finally:
        # traceback -> this frame -> ``failure`` -> traceback would be a cycle keeping the Store (and its
        # buffered guest output) alive until the next GC run.
        del failure


def store_data(context: Any) -> Any:
    """The ``data`` given to ``wasmtime.Store(engine, data=...)``, read from the ``StoreContext`` a host function
    receives. This is how one Linker shared by all executions of a component routes a host call to its
    execution; wasmtime-py 50 offers no public accessor on ``StoreContext``.
    """
    raw = wasmtime_ffi.wasmtime_context_get_data(context._context())
    return wasmtime_value._unintern(cast(int, raw)) if raw else None


def take_parked_exception() -> BaseException | None:
    """Removes and returns this thread's parked host exception, for callers that enter guests another way
    (e.g. ``Linker.instantiate`` running a start function)."""
    exc, _slot.exception = _slot.exception, None
    return exc


def classify_error(err: BaseException) -> BaseException:
    """The typed error for a wasmtime failure that did not come from a host function."""
    text = err.message if isinstance(err, wasmtime.Trap) else str(err)
    reason, backtrace = _split_message(text)
    if isinstance(err, wasmtime.ExitTrap):
        return GuestTrap(f"guest exited with code {err.code}", backtrace or text, exit_code=err.code)
    if reason == _INTERRUPT_REASON or reason.endswith(": interrupt"):
        return GuestInterrupted(reason, backtrace or text)
    return GuestTrap(reason, backtrace or text)


def _explain(err: BaseException) -> BaseException:
    parked = take_parked_exception()
    if parked is not None:
        return parked
    return classify_error(err)


def _split_message(text: str) -> tuple[str, str]:
    """``(root cause, full text)``: wasmtime lists the chain under ``Caused by:``, innermost last."""
    stripped = text.strip()
    if _CAUSED_BY in stripped:
        causes = [line.strip() for line in stripped.split(_CAUSED_BY, 1)[1].splitlines() if line.strip()]
        if causes:
            return _strip_index(causes[-1]), stripped
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    return (lines[0] if lines else "unknown wasmtime error"), stripped


def _strip_index(line: str) -> str:
    """wasmtime numbers multiple causes (``0: ...``, ``1: ...``); the number is noise in a reason."""
    head, sep, rest = line.partition(": ")
    if sep and head.isdigit():
        return rest
    return line

"""A ``session_store`` written in Python: the object's methods, sync or async, as the
native module calls them (``call(method, args) -> JSON answer``), on one of its blocking
threads holding the GIL. The engine checks the answers, applies the time limit and names
the method in a ``session_store`` error.

An async method runs on the stores' own event loop, one for the process on a daemon
thread (``harnext-session-store``), never on the caller's: the engine may call the store
while the caller's loop is busy starting the run, and a client the store opens in its
methods (a connection pool) stays bound to that one loop across runs and agents."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import threading
import weakref
from typing import Any, Dict, List, Optional, Protocol, Union


STORE_METHODS = ("acquire", "append", "release", "load", "list")

_counter = itertools.count(1)
_keys: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_strong_keys: Dict[int, "tuple[Any, str]"] = {}
_loop: Optional[asyncio.AbstractEventLoop] = None
_loop_lock = threading.Lock()


def _store_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="harnext-session-store", daemon=True).start()
            _loop = loop
        return _loop


async def _awaited(value: Any) -> Any:
    return await value


def _key(store: Any) -> str:
    """The same key for every use of one object (so that the process refuses a second run
    of a session before asking the store)."""
    try:
        key = _keys.get(store)
        if key is None:
            key = f"{os.getpid()}.{next(_counter)}"
            _keys[store] = key
        return key
    except TypeError:  # not weakly referenceable: kept alive with its key
        held = _strong_keys.get(id(store))
        if held is None:
            held = (store, f"{os.getpid()}.{next(_counter)}")
            _strong_keys[id(store)] = held
        return held[1]


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def store_spec(store: Any) -> Union[None, str, Dict[str, Any]]:
    """A ``session_store`` option as the native module takes it: a URL string as it is,
    an object as ``{"key", "call", "timeout_ms"}``; ``TypeError`` naming what is wrong."""
    if store is None or isinstance(store, str):
        return store
    expected = f"an object with the methods {', '.join(STORE_METHODS)} (see harnext.SessionStore)"
    for method in STORE_METHODS:
        if not callable(getattr(store, method, None)):
            raise TypeError(
                f'invalid option `session_store`: expected a "postgres://..." or "redis://..." URL or {expected}; '
                f"`{method}` is not a method (got {_describe(getattr(store, method, None))})"
            )
    timeout_ms = getattr(store, "timeout_ms", None)
    if timeout_ms is not None and (isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float))):
        raise TypeError(
            f"invalid option `session_store`: `timeout_ms` must be a number of milliseconds, got {_describe(timeout_ms)}"
        )

    def call(method: str, args: Any) -> Any:
        answer = getattr(store, method)(*args)
        if inspect.isawaitable(answer):
            answer = asyncio.run_coroutine_threadsafe(_awaited(answer), _store_loop()).result()
        return answer

    return {"key": _key(store), "call": call, "timeout_ms": timeout_ms}


class SessionStore(Protocol):
    """A session store of your own (``Agent(session_store=obj)``,
    ``Agent.list_sessions(session_store=obj)``, ...): the five methods, each sync or async.
    An optional ``timeout_ms`` attribute sets each call's time limit. Types:
    ``__init__.pyi``; the rules: the README's "A session store of your own"."""

    def acquire(self, session_id: str, /) -> Any: ...

    def append(self, session_id: str, records: List[Dict[str, Any]], lease: str, /) -> Any: ...

    def release(self, session_id: str, lease: str, /) -> Any: ...

    def load(self, session_id: str, /) -> Any: ...

    def list(self) -> Any: ...

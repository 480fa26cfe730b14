"""What only Python can do for the engine: call user functions (sync or async) from the
engine's threads, build tool schemas from type hints, validate with pydantic.

The native module calls these on one of its blocking threads, holding the GIL. An async
function runs on the event loop of the ``arun``/``astream`` that is running on the agent
(so it may use that loop's resources), else on a fresh loop in the calling thread."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import re
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import _native
from ._types import PermissionRequest, call_sandbox, decision_json


class LoopHolder:
    """The event loop of the agent's running async runs, if any."""

    def __init__(self) -> None:
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.owner: Optional[int] = None

    def resolve(self, value: Any) -> Any:
        if not inspect.isawaitable(value):
            return value
        loop = self.loop
        if loop is not None and loop.is_running() and not loop.is_closed() and self.owner != threading.get_ident():
            return asyncio.run_coroutine_threadsafe(_awaited(value), loop).result()
        return asyncio.run(_awaited(value))


async def _awaited(value: Any) -> Any:
    return await value


def _plain(value: Any) -> Any:
    """A value as JSON the model can read (pydantic models dumped)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ---- tools -------------------------------------------------------------------------

_SIMPLE_TYPES: Dict[Any, Dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    dict: {"type": "object"},
    list: {"type": "array"},
    Any: {},
}


def _hint_schema(hint: Any) -> Dict[str, Any]:
    """JSON Schema of a type hint, without pydantic (the common cases)."""
    import typing

    if hint in _SIMPLE_TYPES:
        return dict(_SIMPLE_TYPES[hint])
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, List, tuple):
        return {"type": "array", "items": _hint_schema(args[0])} if args else {"type": "array"}
    if origin in (dict, Dict):
        return {"type": "object"}
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = [a for a in args if a is not type(None)]
        schemas = [_hint_schema(a) for a in options]
        if type(None) in args:
            schemas.append({"type": "null"})
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    raise TypeError(f"cannot turn the type {hint!r} into JSON Schema without pydantic (pip install pydantic)")


def _docstring(fn: Callable[..., Any]) -> Tuple[str, Dict[str, str]]:
    """The summary of a docstring, and its parameter descriptions (Google, NumPy or
    Sphinx ``:param x:`` style)."""
    doc = inspect.getdoc(fn) or ""
    params: Dict[str, str] = {}
    summary: List[str] = []
    section = None
    for line in doc.splitlines():
        stripped = line.strip()
        m = re.match(r":param\s+(\w+):\s*(.*)", stripped)
        if m:
            params[m.group(1)] = m.group(2)
            continue
        if re.match(r"^(Args|Arguments|Parameters|Params):?$", stripped):
            section = "args"
            continue
        if re.match(r"^(Returns|Raises|Yields|Examples?|Notes?):?$", stripped):
            section = "other"
            continue
        if section == "args":
            m = re.match(r"(\w+)\s*(\([^)]*\))?\s*:\s*(.+)", stripped)
            if m:
                params[m.group(1)] = m.group(3)
            continue
        if section is None and not stripped.startswith("---"):
            summary.append(stripped)
    return " ".join(s for s in summary if s).strip(), params


class Tool:
    """A custom tool: a Python function the model may call. Make one with ``@tool``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
        input_schema: Optional[Dict[str, Any]] = None,
        read_only: bool = False,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@tool: expected a function, got {type(fn).__name__}")
        self.fn = fn
        self.name = name if name is not None else fn.__name__
        if not isinstance(self.name, str):
            raise TypeError(f"@tool: name must be a string, got {self.name!r}")
        problem = _native.tool_name_problem(self.name)
        if problem is not None:
            raise ValueError(f"@tool: {problem}")
        summary, param_docs = _docstring(fn)
        self.description = description if description is not None else (summary or self.name)
        if not isinstance(self.description, str):
            raise TypeError(f"@tool({self.name}): description must be a string")
        if not isinstance(read_only, bool):
            raise TypeError(f"@tool({self.name}): read_only must be a bool")
        self.read_only = read_only
        self._model: Any = None
        self._params: Optional[List[str]] = None
        if input_schema is not None:
            if not isinstance(input_schema, dict) or input_schema.get("type") != "object":
                raise TypeError(f'@tool({self.name}): input_schema must be a JSON Schema dict with "type": "object"')
            self.input_schema = input_schema
        else:
            self.input_schema = self._schema_from_hints(param_docs)

    def _schema_from_hints(self, docs: Dict[str, str]) -> Dict[str, Any]:
        sig = inspect.signature(self.fn)
        try:
            hints = __import__("typing").get_type_hints(self.fn, include_extras=True)
        except Exception as e:  # a hint that names something undefined
            raise TypeError(f"@tool({self.name}): cannot read the type hints: {e}") from None
        fields: Dict[str, Tuple[Any, Any]] = {}
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"@tool({self.name}): *args and **kwargs cannot be tool arguments")
            if p.kind is p.POSITIONAL_ONLY:
                raise TypeError(f"@tool({self.name}): positional-only parameters cannot be tool arguments")
            hint = hints.get(p.name, Any)
            fields[p.name] = (hint, ... if p.default is p.empty else p.default)
        self._params = list(fields)
        try:
            import pydantic
        except ImportError:
            pydantic = None  # type: ignore[assignment]
        if pydantic is not None:
            definitions = {
                k: (h, pydantic.Field(default=d, description=docs.get(k)) if k in docs else d)
                for k, (h, d) in fields.items()
            }
            model = pydantic.create_model(f"{self.name}_args", **definitions)  # type: ignore[call-overload]
            self._model = model
            schema: Dict[str, Any] = model.model_json_schema()
            schema.pop("title", None)
            return schema
        properties: Dict[str, Any] = {}
        required = []
        for k, (h, d) in fields.items():
            s = _hint_schema(h)
            if k in docs:
                s["description"] = docs[k]
            if d is ...:
                required.append(k)
            else:
                try:
                    json.dumps(d)
                    s["default"] = d
                except TypeError:
                    pass
            properties[k] = s
        out: Dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, read_only={self.read_only})"

    def _arguments(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """The keyword arguments of a call: validated by pydantic when the schema came
        from the hints (the JSON Schema was checked by the engine already)."""
        if self._model is None:
            return args
        from pydantic import ValidationError

        try:
            m = self._model.model_validate(args)
        except ValidationError as e:
            raise ValueError("invalid arguments: " + format_issues(e)) from None
        return {k: getattr(m, k) for k in self._params or []}

    def _call(self, args: Dict[str, Any], loops: LoopHolder) -> str:
        out = loops.resolve(self.fn(**self._arguments(args)))
        if out is None:
            return ""
        if isinstance(out, str):
            return out
        return json.dumps(_plain(out))


class BoundTool:
    """A tool as one agent hands it to the engine (with that agent's event loop)."""

    def __init__(self, tool: Tool, loops: LoopHolder) -> None:
        self.name = tool.name
        self.description = tool.description
        self.input_schema = tool.input_schema
        self.read_only = tool.read_only
        self._tool = tool
        self._loops = loops

    def _invoke(self, args: Dict[str, Any], tool_call_id: str) -> str:
        return self._tool._call(args, self._loops)


def tool(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    input_schema: Optional[Dict[str, Any]] = None,
    read_only: bool = False,
) -> Any:
    """Makes a function a tool: ``@tool`` or ``@tool(name=..., read_only=True, ...)``."""
    if fn is not None:
        return Tool(fn, name=name, description=description, input_schema=input_schema, read_only=read_only)

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(f, name=name, description=description, input_schema=input_schema, read_only=read_only)

    return wrap


# ---- permissions -------------------------------------------------------------------


def permission_callback(fn: Callable[..., Any], loops: LoopHolder) -> Callable[[Dict[str, Any]], Any]:
    def decide(request: Dict[str, Any]) -> Any:
        req = PermissionRequest(request["id"], request["tool"], request["args"], call_sandbox(request.get("sandbox")))
        return decision_json(loops.resolve(fn(req)))

    return decide


# ---- structured output -------------------------------------------------------------


def format_issues(e: Any) -> str:
    return "; ".join(issues_of(e))


def issues_of(e: Any) -> List[str]:
    out = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        out.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return out


def output_spec(schema: Any) -> Tuple[Any, Any, Any]:
    """``output_schema`` as (JSON Schema, validator for the engine, finalizer of the
    result's output). A dict is a JSON Schema, checked by the engine; any other value is
    a type pydantic's ``TypeAdapter`` accepts (a ``BaseModel`` subclass, a dataclass,
    ``list[int]``...)."""
    if schema is None:
        return None, None, None
    if isinstance(schema, dict):
        return schema, None, None
    try:
        from pydantic import TypeAdapter, ValidationError
    except ImportError:
        raise TypeError(
            "invalid option `output_schema`: a type needs pydantic (pip install pydantic); "
            "or pass a JSON Schema dict"
        ) from None
    try:
        adapter: Any = TypeAdapter(schema)
        json_schema = adapter.json_schema()
    except Exception as e:
        raise TypeError(f"invalid option `output_schema`: it cannot be turned into JSON Schema: {e}") from None

    def validate(value: Any) -> Dict[str, Any]:
        try:
            instance = adapter.validate_python(value)
        except ValidationError as e:
            return {"issues": issues_of(e)}
        return {"value": adapter.dump_python(instance, mode="json")}

    def finalize(value: Any) -> Any:
        return adapter.validate_python(value)

    return json_schema, validate, finalize


# ---- hooks (issue 17) --------------------------------------------------------------


def _answer_json(answer: Any) -> Any:
    """A hook's answer as the engine reads it: ``None`` (no opinion), a string, or a dict
    (a dataclass's fields set, a pydantic model dumped)."""
    if answer is None or isinstance(answer, str):
        return answer
    if dataclasses.is_dataclass(answer) and not isinstance(answer, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(answer).items() if v is not None}
    return _plain(answer)


def hook_spec(hooks: Any, loops: LoopHolder) -> Dict[str, Any]:
    """``hooks={"pre_tool_use": fn or [fn, ...], ..., "timeout_ms": 5000}`` as the native
    agent takes it: ``{"entries": [(name, call), ...], "timeout_ms": ...}`` in the order
    given, each function (sync or async) made to answer JSON. The engine checks the names."""
    if not isinstance(hooks, Mapping):
        raise TypeError(
            'invalid option `hooks`: expected a dict such as {"pre_tool_use": fn}, '
            f"got {type(hooks).__name__}"
        )
    entries: List[Tuple[str, Callable[[Dict[str, Any]], Any]]] = []
    timeout = None
    for name, value in hooks.items():
        if not isinstance(name, str):
            raise TypeError(f"invalid option `hooks`: expected hook names as strings, got {name!r}")
        if name == "timeout_ms":
            timeout = value
            continue
        fns = list(value) if isinstance(value, (list, tuple)) else [value]
        for i, fn in enumerate(fns):
            if not callable(fn):
                where = f"{name}[{i}]" if isinstance(value, (list, tuple)) else name
                raise TypeError(
                    f"invalid option `hooks`: {where}: expected a callable (sync or async) taking the "
                    f"hook's input, got {type(fn).__name__}"
                )
            entries.append((name, _hook_call(fn, loops)))
    return {"entries": entries, "timeout_ms": timeout}


def _hook_call(fn: Callable[..., Any], loops: LoopHolder) -> Callable[[Dict[str, Any]], Any]:
    def call(input: Dict[str, Any]) -> Any:
        return _answer_json(loops.resolve(fn(input)))

    return call

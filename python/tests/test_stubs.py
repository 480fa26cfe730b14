"""The checked-in stubs (harnext/__init__.pyi) match the package: every name, and every
field of the result, event and session classes."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Dict, Set

import harnext

STUB = Path(harnext.__file__).with_name("__init__.pyi")


def stub_classes() -> Dict[str, Set[str]]:
    tree = ast.parse(STUB.read_text())
    out: Dict[str, Set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {
                n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            }
    return out


def test_every_public_name_is_in_the_stub_and_back() -> None:
    tree = ast.parse(STUB.read_text())
    stub_all = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "__all__"
    )
    assert sorted(stub_all) == sorted(harnext.__all__)
    for name in harnext.__all__:
        assert hasattr(harnext, name), name


def test_dataclass_fields_match_the_stub() -> None:
    classes = stub_classes()
    checked = 0
    for name in harnext.__all__:
        obj = getattr(harnext, name)
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            runtime = {f.name for f in dataclasses.fields(obj) if not f.name.startswith("_")}
            assert runtime == classes[name], name
            checked += 1
    assert checked >= 20


def test_the_methods_take_the_stubs_parameters() -> None:
    import inspect

    tree = ast.parse(STUB.read_text())
    agent = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Agent")
    for fn in agent.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.name.startswith("_") and fn.name != "__init__":
            continue
        if any(getattr(d, "id", None) == "property" for d in fn.decorator_list):
            continue
        stub_params = [a.arg for a in fn.args.args + fn.args.kwonlyargs if a.arg != "self"]
        runtime = [
            p.name
            for p in inspect.signature(getattr(harnext.Agent, fn.name)).parameters.values()
            if p.name != "self" and p.kind is not p.VAR_KEYWORD and p.kind is not p.VAR_POSITIONAL
        ]
        assert stub_params == runtime, fn.name

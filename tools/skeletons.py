"""Cut an assessment module back to a documented skeleton, with `ast` (`make_starter.py`).

A skeleton keeps a function's signature, decorators and docstring and replaces its body
with `raise AppException(..., code="not_implemented", status_code=501)` naming the
assessment, the function and the file. Start-up paths become no-ops that return a neutral
value; private helpers nothing refers to any more, and unused imports, go as well.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

LINE_LENGTH = 100


@dataclass(frozen=True)
class Skeleton:
    """One module of an assessment, cut back to what the candidate builds.

    `build`: top-level functions, `Class.method` or `Class.*` (its public methods) whose
    bodies become the not-implemented error; `"*"` means every public top-level function.
    `noop`: start-up paths, `name -> returned expression`, so the app starts.
    `keep`: functions inside `build="*"` kept verbatim. `drop`: removed outright.
    Private helpers nothing refers to any more, and unused imports, go as well.
    """

    path: str
    build: tuple[str, ...] = ("*",)
    noop: Mapping[str, str] = field(default_factory=dict)
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


Function = ast.FunctionDef | ast.AsyncFunctionDef
NOOP_COMMENT = "# Starter: a no-op so the app starts. Build it (see the docstring)."


def skeletonise(source: str, spec: Skeleton, *, number: int) -> tuple[str, list[str]]:
    """The module cut back per `spec`, and `path::name — summary` for each thing to build."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    todo: list[str] = []
    edits: list[tuple[int, int, list[str]]] = []
    targets = _targets(tree, spec)
    for qualname, node in targets.items():
        if qualname in spec.drop:
            edits.append((*_extent(lines, node), []))
        elif qualname in spec.noop:
            edits.append(_replace_body(lines, node, _noop_body(spec.noop[qualname])))
            noted = f"`{spec.path}::{qualname}` — *a no-op at start for now.* {_summary(node)}"
            todo.append(noted.rstrip())
        else:
            summary = _summary(node)
            message = f"Assessment {number}: implement {qualname} in {spec.path}"
            message += f" — {summary}" if summary else " — see the assessment's README"
            body = _raise_body(message, _is_generator(node), _body_indent(node))
            edits.append(_replace_body(lines, node, body))
            todo.append(f"`{spec.path}::{qualname}`" + (f" — {summary}" if summary else ""))
    text = _apply(lines, edits)
    text = _short_module_docstring(text)
    text = _prune(text, pruned_classes={name.split(".")[0] for name in targets if "." in name})
    if any(q not in spec.drop and q not in spec.noop for q in targets):
        text = _ensure_app_exception(text)
    return _tidy_blank_lines(text), todo


def _targets(tree: ast.Module, spec: Skeleton) -> dict[str, Function | ast.ClassDef]:
    top = {n.name: n for n in tree.body if isinstance(n, Function | ast.ClassDef)}
    found: dict[str, Function | ast.ClassDef] = {}
    for name in (*spec.build, *spec.noop, *spec.drop):
        if name == "*":
            found.update(
                (n, node)
                for n, node in top.items()
                if isinstance(node, Function) and not n.startswith("_") and n not in spec.keep
            )
        elif "." in name:
            class_name, method = name.split(".", 1)
            cls = top.get(class_name)
            if not isinstance(cls, ast.ClassDef):
                raise SystemExit(f"{spec.path}: no class {class_name}")
            methods = {n.name: n for n in cls.body if isinstance(n, Function)}
            if method == "*":
                found.update(
                    (f"{class_name}.{m}", node)
                    for m, node in methods.items()
                    if not m.startswith("_") and f"{class_name}.{m}" not in spec.keep
                )
            elif method in methods:
                found[name] = methods[method]
            else:
                raise SystemExit(f"{spec.path}: no method {name}")
        elif name in top:
            found[name] = top[name]
        else:
            raise SystemExit(f"{spec.path}: no function or class {name}")
    return found


def _summary(node: Function | ast.ClassDef) -> str:
    doc = ast.get_docstring(node)
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def _is_generator(node: ast.AST) -> bool:
    def walk(children: Iterable[ast.AST]) -> bool:
        for child in children:
            if isinstance(child, (ast.Yield, ast.YieldFrom)):
                return True
            if isinstance(child, Function | ast.ClassDef | ast.Lambda):
                continue
            if walk(ast.iter_child_nodes(child)):
                return True
        return False

    return walk(ast.iter_child_nodes(node))


def _raise_body(message: str, generator: bool, indent: str) -> list[str]:
    width = LINE_LENGTH - len(indent) - 4 - 4  # the quotes, the space between parts, a comma
    chunks = textwrap.wrap(message, width, break_long_words=False, break_on_hyphens=False)
    parts = [_quote(c + " ") for c in chunks[:-1]] + [_quote(chunks[-1]) + ","]
    body = ["raise AppException(", *(f"    {part}" for part in parts)]
    body += ['    code="not_implemented",', "    status_code=501,", ")"]
    if generator:
        body.append("yield  # unreachable: keeps this function a generator")
    return body


def _quote(text: str) -> str:
    """A string literal as ruff formats it: double quotes unless single ones escape less."""
    text = text.replace("\\", "\\\\")
    quote = "'" if text.count('"') > text.count("'") else '"'
    return quote + text.replace(quote, "\\" + quote) + quote


def _noop_body(expression: str) -> list[str]:
    return [NOOP_COMMENT, f"return {expression}"]


def _replace_body(lines: list[str], node: Function, body: list[str]) -> tuple[int, int, list[str]]:
    statements = node.body
    has_doc = (
        isinstance(statements[0], ast.Expr)
        and isinstance(statements[0].value, ast.Constant)
        and isinstance(statements[0].value.value, str)
    )
    rest = statements[1:] if has_doc else statements
    indent = _body_indent(node)
    if has_doc:
        start = statements[0].end_lineno + 1  # type: ignore[operator]
    else:
        first = statements[0]
        if lines[first.lineno - 1][: first.col_offset].strip():
            raise SystemExit(f"line {first.lineno}: put the body of {node.name} on its own line")
        start = first.lineno
        while start - 1 > node.lineno and lines[start - 2].strip().startswith("#"):
            start -= 1
    end = _end_with_trailing_comments(lines, node, indent) if rest else start - 1
    return start, end, [indent + line + "\n" for line in body]


def _body_indent(node: Function) -> str:
    return " " * node.body[0].col_offset


def _end_with_trailing_comments(lines: list[str], node: ast.AST, indent: str) -> int:
    end = node.end_lineno  # type: ignore[attr-defined]
    while end < len(lines) and lines[end].startswith(indent) and lines[end].strip().startswith("#"):
        end += 1
    return end


def _extent(lines: list[str], node: ast.stmt) -> tuple[int, int]:
    """First and last line of a statement with its decorators, attached comments and the
    blank lines before it."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    while start > 1 and lines[start - 2].strip().startswith("#"):
        start -= 1
    while start > 1 and not lines[start - 2].strip():
        start -= 1
    return start, node.end_lineno  # type: ignore[return-value]


def _apply(lines: list[str], edits: list[tuple[int, int, list[str]]]) -> str:
    result = list(lines)
    for start, end, replacement in sorted(edits, key=lambda edit: edit[0], reverse=True):
        result[start - 1 : end] = replacement
    return "".join(result)


def _short_module_docstring(text: str) -> str:
    """Only the first paragraph of the module docstring: the rest describes the solution."""
    tree = ast.parse(text)
    doc = ast.get_docstring(tree, clean=False)
    if doc is None or "\n\n" not in doc.strip():
        return text
    node = tree.body[0]
    lines = text.splitlines(keepends=True)
    first = doc.strip().split("\n\n")[0]
    lines[node.lineno - 1 : node.end_lineno] = [f'"""{first}"""\n']
    return "".join(lines)


def _prune(text: str, *, pruned_classes: set[str]) -> str:
    """Drop private helpers nothing refers to any more, then imports nothing uses."""
    while True:
        tree = ast.parse(text)
        lines = text.splitlines(keepends=True)
        edits = [(*_extent(lines, node), []) for node in _unused_private(tree, pruned_classes)]
        edits += _unused_imports(tree, lines)
        if not edits:
            return text
        text = _apply(lines, edits)


def _names_used(tree: ast.AST, *, outside: ast.AST | None = None) -> set[str]:
    """Names the code refers to: names, attributes, quoted annotations and `__all__`."""
    used: set[str] = set()

    def visit(node: ast.AST, quoted: bool = False) -> None:
        if node is outside:
            return
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif quoted and isinstance(node, ast.Constant) and isinstance(node.value, str):
            used.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", node.value))
        for name, child in ast.iter_fields(node):
            annotation = name in ("annotation", "returns") or (
                isinstance(node, ast.Assign) and _assigns(node, "__all__")
            )
            for item in child if isinstance(child, list) else [child]:
                if isinstance(item, ast.AST):
                    visit(item, quoted or annotation)

    visit(tree)
    return used


def _assigns(node: ast.Assign, name: str) -> bool:
    return any(getattr(target, "id", None) == name for target in node.targets)


def _private_name(node: ast.stmt) -> str | None:
    if isinstance(node, Function | ast.ClassDef):
        name = node.name
    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
        name = getattr(node.targets[0], "id", "")
    elif isinstance(node, ast.AnnAssign):
        name = getattr(node.target, "id", "")
    else:
        return None
    private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
    return name if private else None


def _unused_private(tree: ast.Module, pruned_classes: set[str]) -> list[ast.stmt]:
    unused = [
        node
        for node in tree.body
        if (name := _private_name(node)) and name not in _names_used(tree, outside=node)
    ]
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name in pruned_classes:
            unused += [
                node
                for node in cls.body
                if isinstance(node, Function)
                and not node.decorator_list
                and _private_name(node)
                and node.name not in _names_used(tree, outside=node)
            ]
    return unused


def _unused_imports(tree: ast.Module, lines: list[str]) -> list[tuple[int, int, list[str]]]:
    used = _names_used(tree)
    edits = []
    for node in _import_statements(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        aliases = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
        if len(aliases) == len(node.names):
            continue
        indent = " " * node.col_offset
        replacement = _render_import(node, aliases, indent) if aliases else []
        if not aliases and _only_statement_in_block(tree, node):
            replacement = [f"{indent}pass\n"]
        edits.append((node.lineno, node.end_lineno, replacement))
    return edits  # type: ignore[return-value]


def _import_statements(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):  # if TYPE_CHECKING:
            found += [n for n in node.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    return found


def _only_statement_in_block(tree: ast.Module, node: ast.stmt) -> bool:
    return any(isinstance(n, ast.If) and n.body == [node] for n in tree.body)


def _render_import(
    node: ast.Import | ast.ImportFrom, aliases: list[ast.alias], indent: str
) -> list[str]:
    names = [a.name + (f" as {a.asname}" if a.asname else "") for a in aliases]
    if isinstance(node, ast.Import):
        return [f"{indent}import {name}\n" for name in names]
    module = "." * node.level + (node.module or "")
    one_line = f"{indent}from {module} import {', '.join(names)}\n"
    if len(one_line) <= LINE_LENGTH + 1:
        return [one_line]
    return [
        f"{indent}from {module} import (\n",
        *(f"{indent}    {n},\n" for n in names),
        f"{indent})\n",
    ]


def _isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name.lower()


def _ensure_app_exception(text: str) -> str:
    """Import `core.exceptions.AppException` where it is not imported yet, in isort order."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    top_imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    for node in top_imports:
        if isinstance(node, ast.ImportFrom) and node.module == "core.exceptions":
            if any(a.name == "AppException" for a in node.names):
                return text
            aliases = sorted(
                [*node.names, ast.alias("AppException")], key=lambda a: _isort_key(a.name)
            )
            lines[node.lineno - 1 : node.end_lineno] = _render_import(node, aliases, "")
            return "".join(lines)
    statement = "from core.exceptions import AppException\n"
    first_party = [
        n
        for n in top_imports
        if isinstance(n, ast.ImportFrom)
        and n.level == 0
        and (n.module or "").split(".")[0] in ("core", "backend")
    ]
    if first_party:
        after = [n for n in first_party if (n.module or "") < "core.exceptions"]
        if after:
            lines.insert(after[-1].end_lineno, statement)  # type: ignore[arg-type]
        else:
            lines.insert(first_party[0].lineno - 1, statement)
        return "".join(lines)
    absolute = [n for n in top_imports if not (isinstance(n, ast.ImportFrom) and n.level)]
    if absolute:
        lines.insert(absolute[-1].end_lineno, "\n" + statement)  # type: ignore[arg-type]
    else:
        relative = top_imports[0] if top_imports else tree.body[1]
        lines.insert(relative.lineno - 1, statement + "\n")
    return "".join(lines)


def _tidy_blank_lines(text: str) -> str:
    """Blank lines as isort and ruff format leave them, after lines were taken out."""
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    if imports:
        following = next((n for n in tree.body if n.lineno > imports[-1].end_lineno), None)
        after = 2 if isinstance(following, Function | ast.ClassDef) else 1
        end = imports[-1].end_lineno
        gap = len(lines[end:]) - len(_lstrip_blank(lines[end:]))
        lines[end : end + gap] = ["\n"] * after
        for node in reversed(imports[:-1]):  # one blank line at most between import sections
            gap = len(lines[node.end_lineno :]) - len(_lstrip_blank(lines[node.end_lineno :]))
            lines[node.end_lineno : node.end_lineno + gap] = ["\n"] * min(gap, 1)
    text = "".join(lines)
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    text = re.sub(r"\n\n\n(?=[ \t]+\S)", "\n\n", text)
    return text.rstrip("\n") + "\n"


def _lstrip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    return lines

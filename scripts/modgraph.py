#!/usr/bin/env python3
"""Prints sluice's module graph: which top-level module imports which, and every import circle.

    scripts/modgraph.py            # top-level modules (src/<module>)
    scripts/modgraph.py --files    # one node per file, with the circles among files

An import is any `crate::a::b` path in a file's code (use lines and inline paths; `super::` and
`self::` paths count as the `crate::` path they stand for), comments and
string literals left out. Generated protocol messages are one node (`protocol`). Test modules
(`tests.rs`, `*_tests.rs`) are left out: a test may reach anywhere.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
PATH_RE = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*)(?:::[a-z_][a-z0-9_]*)*)")
GROUP_RE = re.compile(r"\bcrate::\{([^}]*)\}", re.S)


def strip(code):
    code = re.sub(r"//[^\n]*", "", code)
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', code)


def test_module_cut(code):
    """The code before an inline `#[cfg(test)] mod …` (kept at the end of a file by convention):
    its `super::` means the file itself, and tests may reach anywhere."""
    m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s*)?mod\s+\w+\s*\{", code)
    return code[: m.start()] if m else code


def relative_to_crate(code, rel):
    """`super::…` and `self::…` paths spelled as `crate::…` ones, so they count as imports."""

    def absolute(m):
        ups = m.group(1).count("super")
        base = rel[: len(rel) - ups] if ups else rel
        return "crate::" + "".join(part + "::" for part in base)

    return re.sub(r"\b((?:super::)+|self::)", absolute, code)


def module_files():
    for dirpath, _, names in os.walk(ROOT):
        for name in names:
            if not name.endswith(".rs") or name == "tests.rs" or name.endswith("_tests.rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["main"], ["lib"]):
                continue
            yield path, rel


def node_of(parts, files_mode, known):
    if not files_mode or parts[0] == "protocol":
        return parts[0]
    # the longest known module path that prefixes parts
    for n in range(len(parts), 0, -1):
        cand = "::".join(parts[:n])
        if cand in known:
            return cand
    return parts[0]


def main():
    files_mode = "--files" in sys.argv
    files = list(module_files())
    known = {"::".join(rel) for _, rel in files}
    edges = {}
    for path, rel in files:
        src = node_of(rel, files_mode, known)
        edges.setdefault(src, set())
        code = relative_to_crate(test_module_cut(strip(open(path, encoding="utf-8").read())), rel)
        paths = [m.group(1) for m in PATH_RE.finditer(code)]
        for group in GROUP_RE.finditer(code):
            for item in re.split(r",(?![^{]*\})", group.group(1)):
                item = item.strip()
                if item:
                    paths.append(re.split(r"[:{ ]", item)[0] + "::" + item.split("::", 1)[-1])
        for p in paths:
            parts = [x for x in re.split(r"::|\{|\}|,| ", p) if x]
            dst = node_of(parts, files_mode, known)
            if dst != src and dst in known | {n.split("::")[0] for n in known}:
                edges[src].add(dst)
    for src in sorted(edges):
        print(f"{src} -> {', '.join(sorted(edges[src])) or '(nothing)'}")
    cycles = sccs(edges)
    print()
    if not cycles:
        print("no import circle")
    for c in cycles:
        print(f"circle of {len(c)}: {' '.join(sorted(c))}")


def sccs(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The module import graph of a Rust crate's `src/`, and what is wrong with it.

    tools/modgraph.py [SRC] [--order a,b,c] [--dot]

Reads every `.rs` file under SRC (default: host/src), takes each file as one module
(`wsgi/io.rs` is `wsgi::io`, `wsgi/mod.rs` is `wsgi`), and collects the modules each file
names: `use crate::…`, `use super::…`, `use self::…` trees, and `crate::…`/`super::…`
paths written inline in the code (comments and strings are skipped). `mod x;` declarations
are not imports. It then prints:

- every cycle between files (a strongly connected component of more than one file), with
  the edges inside it and the line of each;
- with `--order`, every import from a top-level folder to one earlier in that order: the
  folders of the request path, first to last (`--order cli,http,sites,...`), where each
  uses the ones after it and never one before it (a later folder reaches an earlier one
  only through a trait it defines itself). Imports within a folder are not checked here.

Exits 1 if it found a cycle (or, with `--order`, an import against the order), else 0.
`--dot` prints the graph in Graphviz's format instead.
"""

import argparse
import os
import re
import sys


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip_code(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4] + "    ") and not re.match(r"'[a-zA-Z_][a-zA-Z0-9_]*[^'a-zA-Z0-9_]", text[i:i + 40]):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def use_paths(tree):
    """The full paths of a `use` tree's text (without `use` and `;`)."""
    tree = re.sub(r"\s+as\s+[A-Za-z_][A-Za-z0-9_]*", "", tree)
    tree = re.sub(r"\s+", "", tree)
    paths = []

    def walk(prefix, s):
        # One tree: `a::b::{c, d::e}`, `a::b`, `a::*`.
        if "{" in s:
            head, _, rest = s.partition("{")
            body = rest[: rest.rfind("}")]
            base = prefix + [p for p in head.split("::") if p]
            for part in split_top(body):
                if part:
                    walk(base, part)
        else:
            parts = [p for p in s.split("::") if p and p != "*"]
            if parts and parts[-1] == "self":
                parts = parts[:-1]
            paths.append(prefix + parts)

    walk([], tree)
    return paths


def split_top(body):
    parts, depth, cur = [], 0, []
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def resolve(path, here, depth, modules):
    """The module file a path names, from the module `here`, written `depth` inline
    modules deep (`mod tests { ... }`); None outside the crate or inside the file."""
    if not path:
        return None
    if path[0] == "crate":
        base, rest = [], path[1:]
    elif path[0] in ("super", "self"):
        # `self` is the module the path is written in; `super` goes one up from it. The
        # first `depth` steps up stay inside the file.
        base = list(here)
        rest = list(path)
        ups = 0
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                ups += 1
            rest = rest[1:]
        if ups <= depth:
            return None
        base = base[: len(base) - (ups - depth)]
    elif tuple(here) + (path[0],) in modules:
        # A child module named without `self::` (`use site::Site;` in a mod.rs).
        base, rest = list(here), list(path)
    else:
        return None
    full = base + rest
    for k in range(len(full), -1, -1):
        if tuple(full[:k]) in modules:
            return tuple(full[:k])
    return None


def collect(src):
    files = {}
    for root, _dirs, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files[module_of(src, path)] = path
    modules = set(files)
    edges = {}  # (from, to) -> first line number
    for here, path in files.items():
        text = strip_code(open(path, encoding="utf-8").read())
        inline = inline_modules(text)

        def depth(at):
            return sum(1 for start, end in inline if start <= at < end)

        for m in re.finditer(r"\buse\s+([A-Za-z_][^;]*);", text):
            line = text.count("\n", 0, m.start()) + 1
            for p in use_paths(m.group(1)):
                add(edges, here, resolve(p, here, depth(m.start()), modules), line)
        for m in re.finditer(r"(?<![A-Za-z0-9_:])((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
            line = text.count("\n", 0, m.start()) + 1
            add(edges, here, resolve(m.group(1).split("::"), here, depth(m.start()), modules), line)
    return files, edges


def inline_modules(text):
    """The (start, end) offsets of every `mod name { ... }` written inside a file."""
    ranges = []
    for m in re.finditer(r"\bmod\s+[A-Za-z_][A-Za-z0-9_]*\s*\{", text):
        level, i = 1, m.end()
        while i < len(text) and level:
            level += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        ranges.append((m.end(), i))
    return ranges


def add(edges, here, target, line):
    if target is None or target == here:
        return
    # A module naming its own ancestor's items (`super::Refusal`) is an import of that file;
    # naming a child is too (a mod.rs re-exporting). Both count.
    edges.setdefault((here, target), line)


def cycles(nodes, edges):
    graph = {n: [] for n in nodes}
    for a, b in edges:
        graph[a].append(b)
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def name(module):
    return "::".join(module) or "crate"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", nargs="?", default="host/src")
    parser.add_argument("--order", help="top-level folders in request-path order, comma-separated")
    parser.add_argument("--dot", action="store_true")
    args = parser.parse_args()
    files, edges = collect(args.src)
    if args.dot:
        print("digraph modules {")
        for a, b in sorted(edges):
            print(f'  "{name(a)}" -> "{name(b)}";')
        print("}")
        return 0
    bad = False
    found = cycles(files, edges)
    for comp in found:
        bad = True
        members = set(comp)
        print(f"cycle between {len(comp)} files: " + ", ".join(name(m) for m in comp))
        for (a, b), line in sorted(edges.items()):
            if a in members and b in members:
                rel = os.path.relpath(files[a], args.src)
                print(f"  {name(a)} -> {name(b)}   ({rel}:{line})")
    if not found:
        print(f"no cycles between the {len(files)} files of {args.src} ({len(edges)} imports)")
    if args.order:
        order = args.order.split(",")
        rank = {folder: i for i, folder in enumerate(order)}
        against = []
        for (a, b), line in sorted(edges.items()):
            if not a or not b or a[0] == b[0]:
                continue
            if a[0] in rank and b[0] in rank and rank[b[0]] < rank[a[0]]:
                against.append((a, b, line))
        for a, b, line in against:
            rel = os.path.relpath(files[a], args.src)
            print(f"against the order: {name(a)} -> {name(b)}   ({rel}:{line})")
        if against:
            bad = True
        else:
            print("no import against the order " + " → ".join(order))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

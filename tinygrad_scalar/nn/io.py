"""Saving and loading models: the JSON file format and every check made on reading it.

A model file is one JSON object: `format` ("tinygrad_scalar"), `version` (1), `class` (the
Module subclass's name), the constructor arguments that `config()` gives, and `state_dict`
({dotted parameter name: weight}). Files are written atomically and read with a size limit;
nothing is ever unpickled or evaluated.
"""

from __future__ import annotations

import json
import os
import random
from typing import TYPE_CHECKING, Any, TypeVar

from .._checks import finite_float, quote_input
from .._files import MAX_READ_BYTES, FileRefused, atomic_write, check_replaceable, read_limited

if TYPE_CHECKING:
    from .module import Module

FORMAT_NAME = "tinygrad_scalar"
FORMAT_VERSION = 1

M = TypeVar("M", bound="Module")


def save(model: Module, path: str | os.PathLike) -> None:
    """Write the architecture and weights as JSON, atomically: the file is written next
    to its destination under a temporary name and then renamed over it, so a failure
    never leaves a half-written file or destroys an existing one."""
    path = os.fspath(path)
    try:  # a device, pipe or folder at `path`, or a read-only file, is refused before any work
        check_replaceable(path)
    except OSError as e:
        raise OSError(f"cannot write model file {path}: {e.strerror or e}") from e
    payload: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    payload["class"] = type(model).__name__
    payload.update(model.config())
    payload["state_dict"] = model.state_dict()
    for name, value in payload["state_dict"].items():
        if finite_float(value) is None:
            raise ValueError(f"cannot save {path}: parameter {name} is {value!r:.40}")
    text = json.dumps(payload, indent=1) + "\n"

    try:
        with atomic_write(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise OSError(f"cannot write model file {path}: {e.strerror or e}") from e


def load(cls: type[M], path: str | os.PathLike) -> M:
    """Rebuild a model saved with save(). A missing, unreadable, corrupt or mismatched
    file raises ValueError naming the file and what is wrong. Only a regular file of at
    most MAX_READ_BYTES (64 MiB) is read: a folder, a device, a named pipe or a larger
    file is refused before anything is read."""
    path = os.fspath(path)
    name = quote_input(path)
    try:
        payload = json.loads(read_limited(path, MAX_READ_BYTES).decode("utf-8"))
    except FileRefused as e:
        raise ValueError(f"cannot read model file {name}: {e.reason}") from None
    except OSError as e:
        raise ValueError(f"cannot read model file {name}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"model file {name} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f"model file {name} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except (ValueError, RecursionError) as e:  # e.g. absurdly nested or huge numbers
        raise ValueError(f"model file {name} is not valid JSON ({e})") from None
    try:
        return from_payload(cls, payload)
    except (ValueError, TypeError, ArithmeticError) as e:  # ArithmeticError: a backstop
        raise ValueError(f"model file {name}: {e}") from None


def from_payload(cls: type[M], payload: Any) -> M:
    """Rebuild a model from the dict that save() writes (its parsed JSON)."""
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    if payload.get("format") != FORMAT_NAME:
        raise ValueError(
            f"not a {FORMAT_NAME} model (format is {quote_input(payload.get('format'))})"
        )
    version = payload.get("version")
    if type(version) is not int or version != FORMAT_VERSION:  # true and 1.0 equal 1
        raise ValueError(
            f"unsupported format version {quote_input(payload.get('version'))}"
            f" (this version reads {FORMAT_VERSION})"
        )
    if payload.get("class") != cls.__name__:
        raise ValueError(f"holds a {quote_input(payload.get('class'))}, not a {cls.__name__}")
    missing = [k for k in (*cls._config_keys(), "state_dict") if k not in payload]
    if missing:
        raise ValueError(f"missing fields: {', '.join(missing)}")
    config = {k: payload[k] for k in cls._config_keys()}
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"state_dict must be an object, got {type(state).__name__}")
    # Counted, not built: a small file naming a huge architecture (sizes [100000, 100000])
    # is refused here instead of building ten billion Values before load_state_dict.
    expected = cls.count_parameters(**config)  # also validates the config
    if len(state) != expected:
        raise ValueError(
            f"state_dict has {len(state)} weights but the architecture {config} needs {expected}"
        )
    # a private seeded rng: loading must not consume the global random state
    build: Any = cls  # a subclass: its constructor takes the config and rng
    model: M = build(**config, rng=random.Random(0))
    model.load_state_dict(state)
    return model

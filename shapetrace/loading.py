"""Resolve MODEL: an application name, a saved ``.keras``/``.h5`` file, or a factory.

Saved files are loaded with Keras's ``safe_mode`` on, per call (unsafe
deserialization is never switched on globally). Before Keras sees a file, its
config is scanned: a Lambda layer, a ``TFSMLayer`` or any class/function from
outside ``keras``/``tensorflow`` means the file carries (or pulls in) code, and
it is refused unless the caller opted in with ``unsafe_load``.

A factory (``package.module:function`` or ``path/to/file.py:function``) is
Python code the user chose to run: it is imported and called as asked.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import re
import sys
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from shapetrace.errors import UsageError

__all__ = [
    "ModelSpec",
    "UnsafeObject",
    "UnsafeLoadWarning",
    "parse_model_spec",
    "parse_factory_args",
    "parse_input_shapes",
    "scan_config",
    "read_saved_config",
    "load_model",
    "spec_of_callable",
    "MODEL_FILE_SUFFIXES",
]

MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
# Suffixes that look like a model file shapetrace cannot read: say so rather than
# treating "model.onnx" as a misspelt application name.
_OTHER_MODEL_SUFFIXES = (".pb", ".onnx", ".tflite", ".pt", ".pth", ".ckpt", ".json", ".pkl", ".zip", ".safetensors")

_FACTORY_MODULE = re.compile(r"^(?P<module>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):(?P<function>[A-Za-z_]\w*)$")
_FACTORY_FILE = re.compile(r"^(?P<file>.+\.py):(?P<function>[A-Za-z_]\w*)$")

# Classes that are part of Keras but run code or read other files when loaded.
_UNSAFE_KERAS_CLASSES = {
    "Lambda": "a Lambda layer, which carries Python code that runs when the model is loaded and called",
    "TFSMLayer": "a TFSMLayer, which loads and runs a separate TensorFlow SavedModel",
}
# A config may name functions by module; only these families are plain math.
_SAFE_FUNCTION_MODULES = tuple(
    f"{root}{family}"
    for root in ("keras.", "keras.src.", "tensorflow.keras.")
    for family in ("activations", "losses", "metrics", "initializers", "regularizers", "constraints", "ops")
)
# Not needed to trace shapes (we load with compile=False), and often custom: not scanned.
_UNSCANNED_KEYS = ("compile_config", "training_config")


@dataclass(frozen=True)
class ModelSpec:
    """What a MODEL argument names."""

    kind: str
    """``application``, ``file`` or ``factory``."""
    text: str
    """The spec as given."""
    path: Path | None = None
    """The saved file, or the factory's ``.py`` file."""
    module: str | None = None
    """The factory's module (``package.module`` form)."""
    function: str | None = None
    """The factory function's name."""


@dataclass(frozen=True)
class UnsafeObject:
    """Something in a saved model's config that would run or import code."""

    layer: str | None
    """The layer it belongs to (``None`` for the model itself)."""
    what: str
    """``Lambda``, ``my_pkg.MyLayer``, ``function os.system``…"""
    reason: str

    def describe(self) -> str:
        where = f"layer {self.layer!r}" if self.layer else "the model config"
        return f"{where} is {self.reason}" if self.what in _UNSAFE_KERAS_CLASSES else f"{where} references {self.what} ({self.reason})"


class UnsafeLoadWarning(UserWarning):
    """A model file was loaded with ``unsafe_load``: the code it carries ran."""


def parse_model_spec(text: str) -> ModelSpec:
    """Classify a MODEL argument without importing or loading anything.

    Raises:
        UsageError: for a path with a suffix that is not a Keras model file.
    """
    text = str(text).strip()
    match = _FACTORY_FILE.match(text)
    if match:
        return ModelSpec("factory", text, path=Path(match["file"]).expanduser(), function=match["function"])
    match = _FACTORY_MODULE.match(text)
    if match:
        return ModelSpec("factory", text, module=match["module"], function=match["function"])
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if suffix in MODEL_FILE_SUFFIXES:
        return ModelSpec("file", text, path=path)
    if suffix in _OTHER_MODEL_SUFFIXES or suffix == ".py" or ("/" in text or "\\" in text):
        what = "a folder" if path.is_dir() else f"a {suffix or 'suffix-less'} file"
        raise UsageError(
            f"Cannot load {text!r} ({what}): expected a .keras or .h5 model file, "
            "a keras.applications name, or a factory like path/to/file.py:function."
        )
    return ModelSpec("application", text)


def parse_factory_args(pairs: Mapping[str, Any] | list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["channels=1", "name=tiny"]`` → ``{"channels": 1, "name": "tiny"}``.

    Values are read as Python literals when they are one (``1``, ``0.5``,
    ``True``, ``None``, ``(32, 32)``) and kept as text otherwise.
    """
    if pairs is None:
        return {}
    if isinstance(pairs, Mapping):
        return dict(pairs)
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(
                f"Invalid --factory-arg {pair!r}: expected key=value with a Python name as key, "
                "e.g. --factory-arg channels=1."
            )
        try:
            result[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            result[key] = value
    return result


def parse_input_shapes(
    items: Mapping[str, Any] | list[str] | tuple | str | None,
) -> dict[str, tuple[int, ...]]:
    """Probe shapes without the batch axis, by input name.

    ``["image=64x64x1", "meta=10"]`` → ``{"image": (64, 64, 1), "meta": (10,)}``; a shape
    without a name (``"120x7"``, ``["200"]``, or ``(32, 32, 3)`` from the library) is for a
    single-input model and is kept under the name ``""``. Any rank.

    Raises:
        UsageError: a malformed item, a dimension below 1, or two unnamed shapes.
    """
    if items is None:
        return {}
    if isinstance(items, str) or (isinstance(items, tuple) and all(isinstance(d, int) for d in items)):
        items = [items]
    pairs = items.items() if isinstance(items, Mapping) else (_split_input(item) for item in items)
    result: dict[str, tuple[int, ...]] = {}
    for name, value in pairs:
        if name in result:
            what = f"input {name!r}" if name else "the (single) input"
            raise UsageError(
                f"--input given twice for {what}: expected one SHAPE for a single-input model, "
                "or NAME=SHAPE once per input."
            )
        result[name] = _parse_dims(name, value)
    return result


def _split_input(item: Any) -> tuple[str, Any]:
    if isinstance(item, (tuple, list)):
        return "", item
    name, sep, value = str(item).partition("=")
    if not sep:
        return "", item  # a bare shape: the model's only input
    if not name.strip():
        raise UsageError(
            f"Invalid --input {item!r}: expected SHAPE (e.g. 32x32x3, 120x7, 200) for a single-input "
            "model, or NAME=SHAPE for one of several inputs, e.g. --input image=64x64x1."
        )
    return name.strip(), value


def _parse_dims(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        parts = [p.strip() for p in re.split(r"[xX×,]", str(value).strip())]
    try:
        dims = tuple(int(p) for p in parts)
        exact = all(not isinstance(p, float) and not isinstance(p, bool) for p in parts)
    except (TypeError, ValueError, OverflowError):
        dims, exact = (), False
    if not dims or not exact or any(d < 1 for d in dims):
        label = f"{name}={value}" if name else str(value)
        raise UsageError(
            f"Invalid --input {label!r}: expected whole numbers of at least 1 joined by x, without "
            "the batch axis (e.g. 32x32x3, 120x7 or 200; NAME=SHAPE for one of several inputs)."
        )
    return dims


# --------------------------------------------------------------------------- scanning


def read_saved_config(path: Path) -> dict[str, Any]:
    """The model config stored in a ``.keras`` archive or a legacy ``.h5`` file (no Keras needed).

    Raises:
        UsageError: missing, corrupt or truncated file, or a file without a model config.
    """
    _check_file(path)
    if path.suffix.lower() == ".keras":
        return _keras_archive_config(path)
    return _h5_config(path)


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise UsageError(
            f"{str(path)!r} is a folder: expected a .keras or .h5 model file (TensorFlow SavedModel "
            "folders are not Keras 3 models; re-save with model.save('model.keras'))."
        )
    if not path.is_file():
        raise UsageError(f"Model file {str(path)!r} does not exist: check the path (relative to {str(Path.cwd())!r}).")


def _keras_archive_config(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise UsageError(
                    f"{str(path)!r} is a zip archive without config.json: expected a model saved by "
                    "Keras 3 with model.save('model.keras')."
                )
            raw = archive.read("config.json")
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise UsageError(
            f"{str(path)!r} is not a readable .keras archive ({error}): the file is corrupt or "
            "truncated; save the model again with model.save('model.keras')."
        ) from None
    except zipfile.LargeZipFile as error:  # pragma: no cover - zip64 disabled
        raise UsageError(f"{str(path)!r} cannot be read: {error}.") from None
    return _parse_config_json(raw, path, "config.json")


def _h5_config(path: Path) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except OSError as error:
        raise UsageError(
            f"{str(path)!r} is not a readable HDF5 file ({_first_line(error)}): the file is corrupt, "
            "truncated or not an .h5 model."
        ) from None
    if raw is None:
        raise UsageError(
            f"{str(path)!r} holds weights only (no model_config): build the model with a factory "
            "(module:function) and pass the file with --weights, or save the whole model."
        )
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return _parse_config_json(raw, path, "model_config")


def _parse_config_json(raw: bytes | str, path: Path, part: str) -> dict[str, Any]:
    try:
        config = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"{str(path)!r} has an unreadable {part} ({error}): the file is corrupt.") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise UsageError(f"{str(path)!r} has a {part} that describes no model: the file is corrupt.")
    return config


def scan_config(config: Any) -> tuple[UnsafeObject, ...]:
    """Everything in a saved config that would run code or import outside ``keras``/``tensorflow``."""
    found: list[UnsafeObject] = []
    _scan(config, None, found)
    unique: dict[tuple, UnsafeObject] = {}
    for item in found:
        unique.setdefault((item.layer, item.what), item)
    return tuple(unique.values())


def _scan(node: Any, layer: str | None, found: list[UnsafeObject]) -> None:
    if isinstance(node, list):
        for item in node:
            _scan(item, layer, found)
        return
    if not isinstance(node, dict):
        return
    class_name = node.get("class_name")
    if isinstance(class_name, str):
        config = node.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        name = name if isinstance(name, str) else node.get("name") if isinstance(node.get("name"), str) else None
        if name and class_name not in ("function", "__lambda__"):
            layer = name
        module = node.get("module")
        if class_name in _UNSAFE_KERAS_CLASSES and (module is None or _is_keras(module)):
            found.append(UnsafeObject(layer, class_name, _UNSAFE_KERAS_CLASSES[class_name]))
            return  # refused as a whole: the function inside it is part of the same finding
        elif class_name == "__lambda__":
            found.append(UnsafeObject(layer, "a serialized Python lambda", "its bytecode runs when loaded"))
        elif isinstance(module, str) and not _is_keras(module):
            found.append(UnsafeObject(layer, f"{module}.{_object_name(node)}", "a module outside keras/tensorflow, imported on load"))
        elif class_name == "function" and isinstance(module, str) and not module.startswith(_SAFE_FUNCTION_MODULES):
            found.append(UnsafeObject(layer, f"function {module}.{_object_name(node)}", "a function that is not an activation, loss, metric or initializer"))
    if node.get("function_type") == "lambda" or (isinstance(node.get("function"), list) and node.get("function_type")):
        found.append(UnsafeObject(layer, "a serialized Python function", "its bytecode runs when loaded"))
    for key, value in node.items():
        if key not in _UNSCANNED_KEYS:
            _scan(value, layer, found)


def _is_keras(module: str) -> bool:
    root = module.split(".", 1)[0]
    return root in ("keras", "tensorflow", "tf_keras")


def _object_name(node: dict) -> str:
    config = node.get("config")
    if node.get("class_name") == "function" and isinstance(config, str):
        return config
    return str(node.get("class_name"))


# --------------------------------------------------------------------------- loading


def load_model(
    model: Any,
    *,
    factory_args: Mapping[str, Any] | None = None,
    unsafe_load: bool = False,
):
    """A built ``keras.Model`` from a file or factory spec, a zero-argument callable, or a model.

    Args:
        model: ``"model.keras"``, ``"legacy.h5"``, ``"pkg.module:function"``,
            ``"path/to/file.py:function"``, a callable returning a model, or a ``keras.Model``.
        factory_args: keyword arguments for a factory.
        unsafe_load: let a saved file run the code it carries (Lambda layers,
            custom classes); warns with :class:`UnsafeLoadWarning`.

    Returns:
        The ``keras.Model``.

    Raises:
        UsageError: with one line naming the problem (exit code 2 in the CLI).
    """
    from shapetrace import _keras_graph as kg

    if isinstance(model, kg.keras.Model):
        if factory_args:
            raise UsageError("factory_args apply to a factory; received a built keras.Model.")
        return model
    if callable(model) and not isinstance(model, str):
        return _call_factory(model, _callable_label(model), dict(factory_args or {}))
    spec = model if isinstance(model, ModelSpec) else parse_model_spec(model)
    if spec.kind == "file":
        if factory_args:
            raise UsageError(f"--factory-arg applies to a factory (module:function); {spec.text!r} is a saved file.")
        return load_model_file(spec.path, unsafe_load=unsafe_load)
    if spec.kind == "factory":
        function = _import_factory(spec)
        return _call_factory(function, spec.text, dict(factory_args or {}))
    raise UsageError(f"{spec.text!r} names an application: build it with shapetrace.trace or build_application.")


def load_model_file(path: Path, *, unsafe_load: bool = False):
    """Load a ``.keras``/``.h5`` file with safe mode on, after refusing configs that carry code."""
    from shapetrace import _keras_graph as kg

    path = Path(path)
    config = read_saved_config(path)
    unsafe = scan_config(config)
    if unsafe and not unsafe_load:
        first = unsafe[0]
        more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
        raise UsageError(
            f"Refusing to load {str(path)!r}: {first.describe()}{more}. Loading it would run code "
            "from the file; if you trust it, pass --unsafe-load (unsafe_load=True)."
        )
    if unsafe_load:
        detail = "; ".join(item.describe() for item in unsafe) or "nothing unsafe was found in its config"
        warnings.warn(
            UnsafeLoadWarning(f"loading {str(path)!r} with unsafe deserialization: any code it carries runs ({detail})."),
            stacklevel=2,
        )
    kg.reset_naming()
    try:
        model = kg.keras.saving.load_model(str(path), compile=False, safe_mode=not unsafe_load)
    except Exception as error:  # Keras raises many types for bad files
        raise UsageError(
            f"Keras could not load {str(path)!r} ({type(error).__name__}: {kg.one_line(error, 200)}): "
            "the file is corrupt, truncated or needs custom objects; check it loads with keras.saving.load_model."
        ) from None
    if not isinstance(model, kg.keras.Model):
        raise UsageError(f"{str(path)!r} holds a {type(model).__name__}, not a keras.Model.")
    return model


@contextmanager
def _on_sys_path(folder: Path) -> Iterator[None]:
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def _import_factory(spec: ModelSpec):
    if spec.path is not None:
        module = _import_file(spec)
    else:
        module = _import_module(spec)
    function = getattr(module, spec.function, None)
    if function is None:
        available = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_"))
        hint = f" Functions there: {', '.join(available[:8])}." if available else ""
        where = str(spec.path) if spec.path is not None else spec.module
        raise UsageError(f"Factory {spec.text!r}: {where!r} has no attribute {spec.function!r}.{hint}")
    if not callable(function):
        raise UsageError(f"Factory {spec.text!r}: {spec.function!r} is a {type(function).__name__}, not a function.")
    return function


def _import_module(spec: ModelSpec):
    # Like `python -m`, the working directory is importable: `models.tiny:build` finds ./models/tiny.py.
    with _on_sys_path(Path.cwd()):
        try:
            return importlib.import_module(spec.module)
        except ImportError as error:
            raise UsageError(
                f"Cannot import module {spec.module!r} for factory {spec.text!r} "
                f"({type(error).__name__}: {_first_line(error)}): check the module path and that its "
                "package is installed or under the working directory."
            ) from None
        except Exception as error:
            raise UsageError(
                f"Importing module {spec.module!r} for factory {spec.text!r} raised "
                f"{type(error).__name__}: {_first_line(error)}"
            ) from None


def _import_file(spec: ModelSpec):
    path = spec.path.resolve()
    if not path.is_file():
        raise UsageError(f"Factory file {str(spec.path)!r} does not exist: check the path in {spec.text!r}.")
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_shapetrace_factory_{abs(hash(str(path))):x}_{stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    # The factory's folder is importable while it loads, so it can import its neighbours.
    with _on_sys_path(path.parent):
        sys.modules[name] = module
        try:
            # Compiled from the source every time: no stale bytecode, no __pycache__ left
            # in the user's folder.
            exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)  # noqa: S102
        except BaseException as error:
            sys.modules.pop(name, None)
            if not isinstance(error, Exception):
                raise
            raise UsageError(
                f"Cannot import factory file {str(spec.path)!r} ({type(error).__name__}: "
                f"{_first_line(error)}): fix the file or install what it imports."
            ) from None
    return module


def _call_factory(function, label: str, kwargs: dict[str, Any]):
    from shapetrace import _keras_graph as kg

    # Fresh auto-generated names (conv2d, not conv2d_7), whatever this process built before.
    kg.reset_naming()
    try:
        result = function(**kwargs)
    except Exception as error:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise UsageError(
            f"Factory {label!r} raised {type(error).__name__} when called with ({args}): "
            f"{kg.one_line(error, 200)}"
        ) from None
    if not isinstance(result, kg.keras.Model):
        raise UsageError(
            f"Factory {label!r} returned {_describe(result)}: expected a keras.Model "
            "(return the model, not a layer or its output)."
        )
    return result


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    return f"a {type(value).__module__}.{type(value).__qualname__}"


def _callable_label(function) -> str:
    return spec_of_callable(function) or getattr(function, "__qualname__", repr(function))


def spec_of_callable(function, relative_to: Path | None = None) -> str | None:
    """``path/to/file.py:function`` for a top-level function (``None`` when it has no such spec)."""
    qualname = getattr(function, "__qualname__", "")
    if not inspect.isfunction(function) or "." in qualname or "<" in qualname:
        return None
    try:
        source = Path(inspect.getsourcefile(function) or "").resolve()
    except TypeError:
        return None
    if not source.is_file():
        return None
    return f"{_relative(source, relative_to)}:{qualname}"


def _relative(path: Path, base: Path | None) -> str:
    import os

    base = (base or Path.cwd()).resolve()
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__

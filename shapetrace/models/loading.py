"""Resolve MODEL: an application name, a saved ``.keras``/``.h5`` file, or a factory.

Saved files are loaded with Keras's ``safe_mode`` on, per call (unsafe
deserialization is never switched on globally). Before Keras sees a file, its
config is scanned: a Lambda layer, a ``TFSMLayer`` or any class/function from
outside ``keras``/``tensorflow`` means the file carries (or pulls in) code, and
it is refused unless the caller opted in with ``unsafe_load``.

A factory (``package.module:function`` or ``path/to/file.py:function``) and
``--import`` code are Python the user chose to run: imported and called as asked.
Anything they raise or exit with (``SystemExit`` included) is a load failure. The
classes and functions of ``--import`` modules are the ``custom_objects`` of a load,
and the pre-load scan accepts exactly those.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from shapetrace.errors import UnsafeLoadWarning, UsageError, WeightsError
from shapetrace.messages import one_line
from shapetrace.models.paths import relative_path
from shapetrace.models.untrusted import (
    MEMBER_LIMIT,
    not_a_file_reason,
    parse_json,
    read_capped,
    require_file,
    too_large,
    user_path,
)
from shapetrace.models.weights import weights_choice

if TYPE_CHECKING:
    from keras import Model

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
    "UserCode",
    "import_user_code",
    "validate_weights_option",
    "import_factory",
]

MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
# Suffixes that look like a model file shapetrace cannot read: say so rather than
# treating "model.onnx" as a misspelt application name.
_OTHER_MODEL_SUFFIXES = (
    ".pb",
    ".onnx",
    ".tflite",
    ".pt",
    ".pth",
    ".ckpt",
    ".json",
    ".pkl",
    ".zip",
    ".safetensors",
)

_FACTORY_MODULE = re.compile(r"^(?P<module>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):(?P<function>[A-Za-z_]\w*)$")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
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
# Archive members Keras reads whole into memory: bounded (see untrusted.MEMBER_LIMIT).
_CAPPED_MEMBERS = ("config.json", "metadata.json")
# What Keras 3's load_weights reads; anything else it refuses with a long message.
_WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")
_MODEL_FILE_EXPECTED = "a .keras or .h5 model file"
# Keras's words for a name it cannot resolve while loading.
_UNRESOLVED = re.compile(r"Could not locate (class|function) '([^']+)'")


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
    custom: str | None = None
    """For a custom class or function: the name ``--import`` code would have to define
    (``my_pkg>MyLayer``); ``None`` for what no import makes safe (Lambda, bytecode)."""

    def describe(self) -> str:
        where = f"layer {self.layer!r}" if self.layer else "the model config"
        return (
            f"{where} is {self.reason}"
            if self.what in _UNSAFE_KERAS_CLASSES
            else f"{where} references {self.what} ({self.reason})"
        )


def parse_model_spec(text: str) -> ModelSpec:
    """Classify a MODEL argument without importing or loading anything.

    Raises:
        UsageError: for a path with a suffix that is not a Keras model file.
    """
    text = str(text).strip()
    match = _FACTORY_FILE.match(text)
    if match:
        return ModelSpec("factory", text, path=user_path(match["file"]), function=match["function"])
    match = _FACTORY_MODULE.match(text)
    if match:
        return ModelSpec("factory", text, module=match["module"], function=match["function"])
    path = user_path(text)
    suffix = path.suffix.lower()
    if suffix in MODEL_FILE_SUFFIXES:
        return ModelSpec("file", text, path=path)
    if suffix in _OTHER_MODEL_SUFFIXES or suffix == ".py" or ("/" in text or "\\" in text):
        shown = suffix if suffix.isprintable() else repr(suffix)  # one line, whatever the name holds
        what = "a folder" if path.is_dir() else f"a {shown or 'suffix-less'} file"
        raise UsageError(
            f"Cannot load {text!r} ({what}): expected a .keras or .h5 model file, "
            "a keras.applications name, or a factory like path/to/file.py:function."
        )
    return ModelSpec("application", text)


def parse_factory_args(pairs: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
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
                f"Invalid factory_args=[{pair!r}]: expected key=value with a Python name as key, "
                "e.g. factory_args['channels']=1.",
                param="factory_args",
            )
        try:
            result[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            result[key] = value
    return result


def parse_input_shapes(
    items: Mapping[str, Any] | Sequence[Any] | str | None,
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
                f"`inputs` given twice for {what}: expected one SHAPE for a single-input model, "
                "or NAME=SHAPE once per input.",
                param="inputs",
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
            f"Invalid inputs={item!r}: expected SHAPE (e.g. 32x32x3, 120x7, 200) for a single-input "
            "model, or NAME=SHAPE for one of several inputs, e.g. inputs['image']=64x64x1.",
            param="inputs",
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
            f"Invalid inputs={label!r}: expected whole numbers of at least 1 joined by x, without "
            "the batch axis (e.g. 32x32x3, 120x7 or 200; NAME=SHAPE for one of several inputs).",
            param="inputs",
        )
    return dims


# --------------------------------------------------------------------------- scanning


def read_saved_config(path: Path) -> dict[str, Any]:
    """The model config stored in a ``.keras`` archive or a legacy ``.h5`` file (no Keras needed).

    Raises:
        UsageError: missing, corrupt or truncated file, or a file without a model config.
    """
    _validate_file(path)
    if path.suffix.lower() == ".keras":
        return _keras_archive_config(path)
    return _h5_config(path)


def _validate_file(path: Path) -> None:
    if not_a_file_reason(path) == "is a folder":
        raise UsageError(
            f"Model file {str(path)!r} is a folder: expected a .keras or .h5 model file (TensorFlow SavedModel "
            "folders are not Keras 3 models; re-save with model.save('model.keras'))."
        )
    require_file(path, "Model file", _MODEL_FILE_EXPECTED)


def _keras_archive_config(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise UsageError(
                    f"{str(path)!r} is a zip archive without config.json: expected a model saved by "
                    "Keras 3 with model.save('model.keras')."
                )
            # Keras reads these members whole; a small archive can inflate to gigabytes.
            members = {name: _read_member(archive, name, path) for name in _CAPPED_MEMBERS if name in names}
            raw = members["config.json"]
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, RuntimeError, NotImplementedError) as error:
        raise UsageError(
            f"{str(path)!r} is not a readable .keras archive ({error}): the file is corrupt or "
            "truncated; save the model again with model.save('model.keras')."
        ) from None
    except zipfile.LargeZipFile as error:  # pragma: no cover - zip64 disabled
        raise UsageError(f"{str(path)!r} cannot be read: {error}.") from None
    return _parse_config_json(raw, path, "config.json")


def _read_member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    what = f"{str(path)!r}: its {name}"
    info = archive.getinfo(name)
    if info.file_size > MEMBER_LIMIT:  # what the header claims…
        raise too_large(what)
    with archive.open(info) as stream:  # …and what really comes out, since headers can lie
        return read_capped(stream, MEMBER_LIMIT, what)


def _h5_config(path: Path) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if "model_config" in handle.attrs:
                size = h5py.h5a.open(handle.id, b"model_config").get_storage_size()
                if size > MEMBER_LIMIT:
                    raise too_large(f"{str(path)!r}: its model_config")
            raw = handle.attrs.get("model_config")
    except OSError as error:
        raise UsageError(
            f"{str(path)!r} is not a readable HDF5 file ({_first_line(error)}): the file is corrupt, "
            "truncated or not an .h5 model."
        ) from None
    if raw is None:
        raise UsageError(
            f"{str(path)!r} holds weights only (no model_config): build the model with a factory "
            "(module:function) and pass the file with `weights`, or save the whole model.",
            param="weights",
        )
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return _parse_config_json(raw, path, "model_config")


def _parse_config_json(raw: bytes | str, path: Path, part: str) -> dict[str, Any]:
    config = parse_json(raw, f"{str(path)!r}: its {part}", "the file is corrupt or was not written by Keras.")
    if not isinstance(config, dict) or "class_name" not in config:
        raise UsageError(f"{str(path)!r} has a {part} that describes no model: the file is corrupt.")
    return config


def scan_config(config: Any, known: frozenset[str] | set[str] = frozenset()) -> tuple[UnsafeObject, ...]:
    """Everything in a saved config that would run code or import outside ``keras``/``tensorflow``.

    Args:
        config: the parsed model config.
        known: names (``"MyLayer"``, ``"my_package>MyLayer"``, ``"my_function"``) that
            resolve to code the user imported on purpose (``--import``): those custom
            classes and functions are accepted. A Lambda is refused all the same.
    """
    found: list[UnsafeObject] = []
    _scan(config, None, found, known)
    unique: dict[tuple, UnsafeObject] = {}
    for item in found:
        unique.setdefault((item.layer, item.what), item)
    return tuple(unique.values())


def _scan(node: Any, layer: str | None, found: list[UnsafeObject], known: frozenset[str] | set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _scan(item, layer, found, known)
        return
    if not isinstance(node, dict):
        return
    class_name = node.get("class_name")
    if isinstance(class_name, str):
        config = node.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        name = (
            name if isinstance(name, str) else node.get("name") if isinstance(node.get("name"), str) else None
        )
        if name and class_name not in ("function", "__lambda__"):
            layer = name
        module = node.get("module")
        resolved = node.get("registered_name") in known or _object_name(node) in known
        if class_name in _UNSAFE_KERAS_CLASSES and (module is None or _is_keras(module)):
            found.append(UnsafeObject(layer, class_name, _UNSAFE_KERAS_CLASSES[class_name]))
            return  # refused as a whole: the function inside it is part of the same finding
        elif class_name == "__lambda__":
            found.append(UnsafeObject(layer, "a serialized Python lambda", "its bytecode runs when loaded"))
        elif resolved:
            pass  # the user's own --import code, imported on purpose
        elif isinstance(module, str) and not _is_keras(module):
            found.append(
                UnsafeObject(
                    layer,
                    f"{module}.{_object_name(node)}",
                    "a module outside keras/tensorflow, imported on load",
                    _custom_name(node),
                )
            )
        elif (
            class_name == "function"
            and isinstance(module, str)
            and not module.startswith(_SAFE_FUNCTION_MODULES)
        ):
            found.append(
                UnsafeObject(
                    layer,
                    f"function {module}.{_object_name(node)}",
                    "a function that is not an activation, loss, metric or initializer",
                    _custom_name(node),
                )
            )
    if node.get("function_type") == "lambda" or (
        isinstance(node.get("function"), list) and node.get("function_type")
    ):
        found.append(UnsafeObject(layer, "a serialized Python function", "its bytecode runs when loaded"))
    for key, value in node.items():
        if key not in _UNSCANNED_KEYS:
            _scan(value, layer, found, known)


def _custom_name(node: dict) -> str | None:
    """The name Keras resolves a custom object by (``package>Class``, or the function's name)."""
    registered = node.get("registered_name")
    if node.get("class_name") == "function" or not isinstance(registered, str) or not registered:
        return _object_name(node)
    return registered


def _is_keras(module: str) -> bool:
    root = module.split(".", 1)[0]
    return root in ("keras", "tensorflow", "tf_keras")


def _object_name(node: dict) -> str:
    config = node.get("config")
    if node.get("class_name") == "function" and isinstance(config, str):
        return config
    return str(node.get("class_name"))


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class UserCode:
    """Code imported with ``--import``: its modules and what they offer as custom objects."""

    items: tuple[str, ...] = ()
    """The ``--import`` values as given (files or module names)."""
    custom_objects: Mapping[str, Any] = field(default_factory=dict)
    """Top-level classes and functions defined by those modules, by every name Keras
    may look them up by (``MyLayer`` and its registered ``package>MyLayer``)."""

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.custom_objects)


def import_user_code(items: Sequence[str] | None) -> UserCode:
    """Import each ``--import`` item (``path/to/file.py`` or ``package.module``), in order.

    This runs the user's code: it is their explicit choice, like a factory. The classes
    and functions each module defines at top level become custom objects, so a saved
    model that uses them loads, and the pre-load scan accepts them.

    Raises:
        UsageError: a missing file, a module that cannot be imported, or code that
            raises or exits while importing.
    """
    items = tuple(str(item) for item in items or ())
    if not items:
        return UserCode()
    from shapetrace.tracing import (
        _keras_graph as kg,  # TensorFlow first, quietly, before user code imports it
    )

    objects: dict[str, Any] = {}
    for item in items:
        if not item.strip():
            raise UsageError(
                "Invalid imports=['']: expected a Python file (path/to/layers.py) or a module (my_package.layers).",
                param="imports",
            )
        if item.strip().endswith(".py"):
            module = _import_file(ModelSpec("import", item, path=user_path(item.strip())), label="`imports`")
        elif _MODULE_NAME.match(item.strip()):
            module = _import_module(ModelSpec("import", item, module=item.strip()), label="`imports`")
        else:
            raise UsageError(
                f"Invalid imports=[{item!r}]: expected a Python file (path/to/layers.py) or a module "
                "name (my_package.layers).",
                param="imports",
            )
        for name, value in vars(module).items():
            if name.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if getattr(value, "__module__", None) != module.__name__:
                continue  # imported from elsewhere (keras.layers…), not the user's own
            objects.setdefault(name, value)
            registered = kg.keras.saving.get_registered_name(value)
            objects.setdefault(registered, value)
    return UserCode(items, objects)


def validate_weights_option(weights: Any) -> None:
    """Refuse a ``weights`` value that cannot work, before anything is built (no TensorFlow).

    ``None``, ``"none"`` and ``"imagenet"`` pass; anything else must be an existing
    weights file Keras can read (``.weights.h5``/``.h5`` HDF5, or a ``.keras`` archive).
    """
    path = weights_choice(weights)
    if not isinstance(path, Path):
        return
    text = str(weights)
    require_file(
        path, "Weights file", "none, imagenet or the path of a .weights.h5 / .h5 / .keras weights file"
    )
    name = path.name.lower()
    if not name.endswith(_WEIGHTS_SUFFIXES):
        raise WeightsError(
            f"Weights file {text!r} is not a weights file Keras reads: expected a .weights.h5, .h5 or "
            ".keras file (save one with model.save_weights('model.weights.h5'))."
        )
    archive = name.endswith(".keras")
    if not (_is_zip(path) if archive else _is_hdf5(path)):
        kind = "a zip archive (.keras)" if archive else "HDF5 data"
        raise WeightsError(
            f"Weights file {text!r} is not a weights file: it is not readable as {kind} (the file is corrupt, "
            "truncated or something else renamed); save one with model.save_weights('model.weights.h5')."
        )


def _is_hdf5(path: Path) -> bool:
    """Opens as HDF5 (the signature alone passes a truncated file)."""
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except (OSError, ValueError):
        return False


def _is_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path):
            return True
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False


def load_model(
    model: Any,
    *,
    factory_args: Mapping[str, Any] | None = None,
    unsafe_load: bool = False,
    user_code: UserCode | None = None,
) -> Model:
    """A built ``keras.Model`` from a file or factory spec, a zero-argument callable, or a model.

    Args:
        model: ``"model.keras"``, ``"legacy.h5"``, ``"pkg.module:function"``,
            ``"path/to/file.py:function"``, a callable returning a model, or a ``keras.Model``.
        factory_args: keyword arguments for a factory.
        unsafe_load: let a saved file run the code it carries (Lambda layers,
            custom classes); warns with :class:`UnsafeLoadWarning`.
        user_code: what :func:`import_user_code` imported (the custom objects of a load).

    Returns:
        The ``keras.Model``.

    Raises:
        UsageError: with one line naming the problem (exit code 2 in the CLI).
    """
    if isinstance(model, (str, ModelSpec)):
        spec = model if isinstance(model, ModelSpec) else parse_model_spec(model)
        if spec.kind == "file":
            if factory_args:
                raise UsageError(
                    f"`factory_args` applies to a factory (module:function); {spec.text!r} is a saved file.",
                    param="factory_args",
                )
            assert spec.path is not None  # a file spec has its path
            return load_model_file(spec.path, unsafe_load=unsafe_load, user_code=user_code)
        if spec.kind == "factory":
            function = import_factory(spec)
            return _call_factory(function, spec.text, dict(factory_args or {}))
        raise UsageError(
            f"{spec.text!r} names an application: build it with shapetrace.trace or build_application."
        )
    from shapetrace.tracing import _keras_graph as kg

    if isinstance(model, kg.keras.Model):
        if factory_args:
            raise UsageError("factory_args apply to a factory; received a built keras.Model.")
        return model
    if callable(model):
        return _call_factory(model, _callable_label(model), dict(factory_args or {}))
    raise UsageError(
        f"Cannot load {_describe(model)}: expected a model file, a factory spec, a callable or a keras.Model."
    )


def load_model_file(path: Path, *, unsafe_load: bool = False, user_code: UserCode | None = None) -> Model:
    """Load a ``.keras``/``.h5`` file with safe mode on, after refusing configs that carry code.

    Everything about the file is checked before TensorFlow is imported: a refusal costs
    a fraction of a second.
    """
    path = Path(path)
    user_code = user_code or UserCode()
    config = read_saved_config(path)
    unsafe = scan_config(config, user_code.names)
    if unsafe and not unsafe_load:
        first = unsafe[0]
        more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
        if first.custom is not None:
            raise UsageError(
                f"Refusing to load {str(path)!r}: {first.describe()}{more}, and no `imports` defines "
                f"{first.custom!r}: pass imports=[FILE.py] (or MODULE) with the code that defines it; "
                "or, if you trust the file, unsafe_load=True.",
                param=("imports", "unsafe_load"),
            )
        raise UsageError(
            f"Refusing to load {str(path)!r}: {first.describe()}{more}. Loading it would run code "
            "from the file; if you trust it, pass unsafe_load=True.",
            param="unsafe_load",
        )
    from shapetrace.tracing import _keras_graph as kg

    if unsafe_load:
        detail = "; ".join(item.describe() for item in unsafe) or "nothing unsafe was found in its config"
        warnings.warn(
            UnsafeLoadWarning(
                f"loading {str(path)!r} with unsafe deserialization: any code it carries runs ({detail})."
            ),
            stacklevel=2,
        )
    kg.reset_naming()
    try:
        model = kg.keras.saving.load_model(
            str(path),
            custom_objects=dict(user_code.custom_objects) or None,
            compile=False,
            safe_mode=not unsafe_load,
        )
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # Keras raises many types for bad files; custom code may exit
        raise UsageError(_load_failure(path, error, user_code), param="imports") from None
    if not isinstance(model, kg.keras.Model):
        raise UsageError(f"{str(path)!r} holds a {type(model).__name__}, not a keras.Model.")
    return model


def _load_failure(path: Path, error: BaseException, user_code: UserCode) -> str:
    """The real cause of a failed load, in one line (the config itself was readable)."""

    # Keras wraps the real cause ("Could not locate function 'f'") in a long message
    # about the outer object, sometimes in the exception's context: look through all of it.
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    missing = _UNRESOLVED.search("\n".join(texts))
    if missing:
        kind, name = missing.groups()
        where = "no `imports` defines it" if user_code.items else "no `imports` was given"
        return (
            f"Keras could not load {str(path)!r}: it needs the custom {kind} {name!r} and {where}: "
            f"pass imports=[FILE.py] (or MODULE) with the code that defines {name!r}."
        )
    return (
        f"Keras could not load {str(path)!r} ({type(error).__name__}: {one_line(error, 300)}); "
        "check that it loads with keras.saving.load_model, with its custom objects."
    )


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


def import_factory(spec: ModelSpec) -> Callable[..., Any]:
    """Import a factory spec's module (running it) and return the factory, not yet called."""
    if spec.path is not None:
        module = _import_file(spec)
    else:
        module = _import_module(spec)
    assert spec.function is not None  # a factory spec names its function
    function = getattr(module, spec.function, None)
    if function is None:
        available = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
        )
        hint = f" Functions there: {', '.join(available[:8])}." if available else ""
        where = str(spec.path) if spec.path is not None else spec.module
        raise UsageError(f"Factory {spec.text!r}: {where!r} has no attribute {spec.function!r}.{hint}")
    if not callable(function):
        raise UsageError(
            f"Factory {spec.text!r}: {spec.function!r} is a {type(function).__name__}, not a function."
        )
    return function


def _what_user_code_did(error: BaseException) -> str:
    """``raised ValueError: …`` or ``exited (SystemExit(0))``: user code may stop the process on purpose."""
    if isinstance(error, SystemExit):
        return f"exited (SystemExit({error.code!r}))"
    return f"raised {type(error).__name__}: {_first_line(error)}"


def _import_module(spec: ModelSpec, label: str = "factory") -> ModuleType:
    from shapetrace.tracing import _keras_graph  # noqa: F401  (TensorFlow first, quietly, before user code imports it)

    for_what = f"for {label} {spec.text!r}" if label == "factory" else f"given to {label}"
    param = () if label == "factory" else "imports"
    # Like `python -m`, the working directory is importable: `models.tiny:build` finds ./models/tiny.py.
    assert spec.module is not None  # a module spec names its module
    with _on_sys_path(Path.cwd()):
        try:
            return importlib.import_module(spec.module)
        except ImportError as error:
            raise UsageError(
                f"Cannot import module {spec.module!r} {for_what} "
                f"({type(error).__name__}: {_first_line(error)}): check the module path and that its "
                "package is installed or under the working directory.",
                param=param,
            ) from None
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # user code: any exception or exit is a load failure
            raise UsageError(
                f"Importing module {spec.module!r} {for_what} {_what_user_code_did(error)}", param=param
            ) from None


def _import_file(spec: ModelSpec, label: str = "factory") -> ModuleType:
    from shapetrace.tracing import _keras_graph  # noqa: F401  (TensorFlow first, quietly, before user code imports it)

    what = "Factory file" if label == "factory" else f"{label} file"
    param = () if label == "factory" else "imports"
    assert spec.path is not None  # a file spec always has its path
    require_file(spec.path, what, f"a Python file (check the path in {spec.text!r})", param=param)
    path = spec.path.resolve()
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_shapetrace_{'factory' if label == 'factory' else 'import'}_{abs(hash(str(path))):x}_{stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None  # a .py file always has a spec
    module = importlib.util.module_from_spec(module_spec)
    # The file's folder is importable while it loads, so it can import its neighbours.
    with _on_sys_path(path.parent):
        sys.modules[name] = module
        try:
            # Compiled from the source every time: no stale bytecode, no __pycache__ left
            # in the user's folder.
            exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)
        except KeyboardInterrupt:
            sys.modules.pop(name, None)
            raise
        except BaseException as error:  # user code: any exception or exit is a load failure
            sys.modules.pop(name, None)
            raise UsageError(
                f"Cannot import {what.lower()} {str(spec.path)!r}: it {_what_user_code_did(error)}; "
                "fix the file or install what it imports.",
                param=param,
            ) from None
    return module


def _call_factory(function: Callable[..., Any], label: str, kwargs: dict[str, Any]) -> Any:
    from shapetrace.tracing import _keras_graph as kg

    # Fresh auto-generated names (conv2d, not conv2d_7), whatever this process built before.
    kg.reset_naming()
    try:
        result = function(**kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # user code: any exception or exit is a load failure
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        if isinstance(error, SystemExit):
            raise UsageError(
                f"Factory {label!r} exited (SystemExit({error.code!r})) when called with ({args}): "
                "expected it to return a keras.Model."
            ) from None
        raise UsageError(
            f"Factory {label!r} raised {type(error).__name__} when called with ({args}): "
            f"{one_line(error, 200)}"
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


def _callable_label(function: Any) -> str:
    return spec_of_callable(function) or str(getattr(function, "__qualname__", repr(function)))


def spec_of_callable(function: Callable[..., Any], relative_to: Path | None = None) -> str | None:
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
    return f"{relative_path(source, relative_to)}:{qualname}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__

"""One rule for ``weights`` (shapetrace/models/weights.py): none, imagenet or a local file, read the same
by trace, adapt, train, the applications and the baselines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shapetrace.errors import WeightsError
from shapetrace.models.weights import weights_choice

PACKAGE = Path(__file__).resolve().parent.parent / "shapetrace"


@pytest.mark.parametrize(
    ("given", "choice"),
    [
        (None, "none"),
        ("none", "none"),
        (" None ", "none"),
        ("imagenet", "imagenet"),
        ("ImageNet", "imagenet"),
        ("  IMAGENET\t", "imagenet"),
    ],
)
def test_the_two_words_in_any_case_with_spaces(given, choice):
    assert weights_choice(given) == choice


def test_anything_else_is_a_path_as_typed_with_home_expanded(tmp_path):
    assert weights_choice("model.weights.h5") == Path("model.weights.h5")
    assert weights_choice(" spaced name.h5") == Path(" spaced name.h5")  # a file name keeps its spaces
    assert weights_choice(tmp_path / "w.h5") == tmp_path / "w.h5"
    assert weights_choice("~/w.h5") == Path("~/w.h5").expanduser()
    assert weights_choice("none.weights.h5") == Path("none.weights.h5")


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_value_is_refused_in_one_line(blank):
    with pytest.raises(WeightsError) as caught:
        weights_choice(blank)
    assert str(caught.value) == "Invalid weights='': expected none, imagenet or the path of a weights file."
    assert caught.value.params == ("weights",)


def test_every_reader_follows_the_rule(tmp_path):
    from shapetrace.models.applications import _resolve_weights
    from shapetrace.models.catalog import resolve_application
    from shapetrace.models.loading import validate_weights_option
    from shapetrace.train.config import TrainConfig

    app = resolve_application("resnet50")
    assert _resolve_weights(" ImageNet ", app, False, 3) == ("imagenet", None)
    assert _resolve_weights("NONE", app, False, 3) == (None, None)
    validate_weights_option(" imagenet ")  # no file needed for the word
    config = TrainConfig(model="mobilenetv3small", weights=" ImageNet ").resolved()
    assert config.weights == "imagenet" and config.pretrained
    assert not TrainConfig(model="mobilenetv3small", weights="None").resolved().pretrained


def test_no_module_spells_the_rule_again():
    """The words are compared in models/weights.py only; elsewhere a reader calls weights_choice.

    The CLI is left out: it turns its own flag word (``--weights none``) into the library's ``None``.
    """
    spelled = re.compile(
        r'\(\s*"none",\s*"imagenet"\s*\)|lower\(\)\s*(?:==|!=|in|not in)\s*\(?"(?:none|imagenet)"'
    )
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "weights.py" and path.parent.name != "cli"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line) and "weights" in line
    ]
    assert offenders == []

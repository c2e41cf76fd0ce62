"""Comparing two traces as data: layers aligned by structure, only the changes that say something."""

from __future__ import annotations

from dataclasses import replace

from toy_models import conv_rows, hand_trace

from shapetrace.baselines.diff import align, diff_traces, structural_path


def test_structural_path():
    assert structural_path("functional_3/conv2d_7") == "functional/conv2d"
    assert structural_path("resnet50/conv1_conv") == "resnet50/conv1_conv"


def test_declared_and_static_shapes_only_when_they_say_something_new():
    conv = [("m/conv", "Conv2D", (1, 8, 8, 3), (1, 8, 8, 4))]
    before = hand_trace(conv, declared_output=(None, 8, 8, 4))
    # The input grew: actual, declared and static all moved together -> one change.
    after = hand_trace(conv, output=(1, 9, 9, 4), declared_output=(None, 9, 9, 4), static_output=(1, 9, 9, 4))
    assert [c.field for c in diff_traces(before, after).layers[0].changes] == ["output"]
    # Same actual shape, but Keras's static inference now disagrees with it -> reported.
    after = hand_trace(conv, declared_output=(None, 8, 8, 4), static_output=(1, 8, 8, 1))
    [change] = diff_traces(before, after).layers[0].changes
    assert (change.field, change.baseline, change.now) == ("static_output", [1, 8, 8, 4], [1, 8, 8, 1])
    # An open batch axis spelled differently is not a change of agreement.
    after = hand_trace(conv, declared_output=(None, 8, 8, 4), static_output=(None, 8, 8, 4))
    assert diff_traces(before, after).layers == ()


def test_alignment_reports_one_insert_not_a_shift():
    conv = [(f"m/conv2d_{i}", "Conv2D", (1, 4, 4, 8), (1, 4, 4, 8)) for i in range(1, 30)]
    before = hand_trace([("m/conv2d", "Conv2D", (1, 4, 4, 8), (1, 4, 4, 8)), *conv])
    after = hand_trace(
        [
            ("m/conv2d", "Conv2D", (1, 4, 4, 8), (1, 4, 4, 8)),
            ("m/dense", "Dense", (1, 4, 4, 8), (1, 4, 4, 8)),
            *conv,
        ]
    )
    diff = diff_traces(before, after)
    assert [(d.path, d.status) for d in diff.layers] == [("m/dense", "added")]
    assert diff.summary == "1 of 31 layers differs"


def test_align_pairs_matches_and_marks_removed_and_added():
    assert align(["a", "b", "c"], ["a", "b", "c"]) == [(0, 0), (1, 1), (2, 2)]
    assert align(["a", "b", "c"], ["a", "c"]) == [(0, 0), (1, None), (2, 1)]
    assert align(["a", "c"], ["a", "b", "c"]) == [(0, 0), (None, 1), (1, 2)]
    assert align([], ["a"]) == [(None, 0)]
    assert align(["a"], []) == [(0, None)]
    # Every index of both lists appears exactly once, in order.
    pairs = align(list("xyzzyx"), list("zyxxyz"))
    assert [i for i, _ in pairs if i is not None] == list(range(6))
    assert [j for _, j in pairs if j is not None] == list(range(6))


def test_align_keeps_repeated_keys_matched_around_an_insert():
    old = ["conv2d"] * 5
    new = ["conv2d"] * 2 + ["dense"] + ["conv2d"] * 3
    pairs = align(old, new)
    assert [pair for pair in pairs if None in pair] == [(None, 2)]
    assert len(pairs) == 6


def test_identical_traces_do_not_differ():
    trace = hand_trace(conv_rows("a", "b"))
    diff = diff_traces(trace, trace)
    assert not diff.differs and diff.layers == () and diff.trace == ()
    assert diff.summary == "0 of 2 layers differ"


def test_a_removed_layer_and_a_params_change():
    before = hand_trace(conv_rows("a", "b", "c"))
    after = hand_trace(conv_rows("a", "c"), params=5)
    diff = diff_traces(before, after)
    assert [(d.path, d.status) for d in diff.layers] == [("m/a", "changed"), ("m/b", "removed")]
    [change] = diff.layers[0].changes
    assert (change.field, change.baseline, change.now) == ("params", 0, 5)
    assert diff.summary == "2 of 3 layers differ"
    assert diff.to_dict()["layers_differing"] == 2


def test_auto_numbered_names_align_with_their_structural_path():
    before = hand_trace(conv_rows("conv2d", "conv2d_1"))
    after = hand_trace(conv_rows("conv2d_4", "conv2d_5"))
    assert not diff_traces(before, after).differs


def test_trace_level_changes_and_version_drift():
    before = hand_trace(conv_rows("a"))
    after = replace(before, total_params=7, versions={"keras": "3.0.0"})
    diff = diff_traces(replace(before, versions={"keras": "3.1.0"}), after)
    assert [(c.field, c.baseline, c.now) for c in diff.trace] == [("total_params", 0, 7)]
    assert [c.field for c in diff.versions] == ["keras"]
    assert diff.differs and diff.summary == "0 of 1 layer differs; total_params changed"
    # Drift alone is noted, never a difference.
    drift = diff_traces(
        replace(before, versions={"keras": "3.1.0"}), replace(before, versions={"keras": "3.0.0"})
    )
    assert drift.versions and not drift.differs

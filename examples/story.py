"""The story behind shapetrace, traced from Python.

Someone fine-tunes EfficientNetB5 (declared for 3 channels) on grayscale images and
training works. This builds their model exactly — EfficientNetB5 on
``Input((84, 112, 3))`` with max pooling, inside a Sequential with Flatten and Dense(9) —
feeds it a 1-channel probe and prints what happens.

    python examples/story.py            # output: examples/story_output.txt
"""

from __future__ import annotations

import shapetrace
from shapetrace.render.table import trace_report, trace_table
from shapetrace.render.text import render_text
from shapetrace.tracing._keras_graph import keras


def build_story_model() -> keras.Model:
    base = keras.applications.EfficientNetB5(
        include_top=False,
        weights=None,  # weights="imagenet" in the story; offline here, and shapes don't care
        input_tensor=keras.Input((84, 112, 3)),
        pooling="max",
    )
    return keras.Sequential([base, keras.layers.Flatten(), keras.layers.Dense(9)])


def main() -> None:
    model = build_story_model()
    trace = shapetrace.trace_model(model, channels=1)

    # The data, for scripts:
    first = trace.changes[0]
    print(f"{first.path}: {first.channels_in} -> {first.channels_out} channels ({first.why})")
    print(f"verdict: {trace.verdict}; output {trace.layers[-1].output}")
    print()
    # The same table the CLI prints, keeping only the rows where something changed:
    print(
        render_text(
            trace_report(trace, changes_only=True, show_timing=False),
            measure=trace_table(trace, changes_only=True),
        )
    )


if __name__ == "__main__":
    main()

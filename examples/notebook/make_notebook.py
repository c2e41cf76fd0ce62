"""Write ``shapetrace_in_a_notebook.ipynb`` from the cells below (without outputs).

The notebook's source lives here so a review diff shows code, not JSON. Executing it (and
keeping the outputs) is ``tests/test_example_notebook.py``'s job:

    python examples/notebook/make_notebook.py
    python -m pytest -m slow tests/test_example_notebook.py --shapetrace-update
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).with_name("shapetrace_in_a_notebook.ipynb")

CELLS = [
    new_markdown_cell(
        "# shapetrace in a notebook\n\n"
        "Someone fine-tunes `keras.applications.EfficientNetB5` on grayscale images. The model is declared "
        "for 3 channels, the images have 1, and training still works. Why? A trace answers with the real "
        "shapes: every result shows itself as the same table the terminal prints, its highlights included. "
        "A long trace opens on the rows where something changed; *All … rows* below it shows every row.\n\n"
        "(A small probe, 64×64, keeps this notebook quick; the story is the same at the model's own 456×456.)"
    ),
    new_code_cell(
        "import shapetrace\n\n"
        "gray = shapetrace.trace(\"efficientnetb5\", channels=1, size=(64, 64))\n"
        "gray"
    ),
    new_markdown_cell(
        "The trace is data, too: frozen records with the real shapes. The first change is where one channel "
        "becomes three, and why:"
    ),
    new_code_cell(
        "first = gray.changes[0]\n"
        "first.path, first.inputs[0], first.output, first.why"
    ),
    new_markdown_cell(
        "## ResNet50 breaks\n\n"
        "Fed the same tensor, ResNet50 stops at its first convolution. The row that breaks is red; the verdict "
        "and a hint follow the table."
    ),
    new_code_cell(
        "broken = shapetrace.trace(\"resnet50\", channels=1, size=(64, 64))\n"
        "broken"
    ),
    new_code_cell("broken.verdict, broken.broken.layer, broken.broken.received"),
    new_markdown_cell(
        "## Your own model\n\n"
        "A subclassed model with a custom residual block (after the Keras guide *Making new layers and models "
        "via subclassing*). shapetrace opens the user's classes into the calls made inside them; built-in Keras "
        "layers stay one row each. Fed one channel where the model was built for three, it breaks inside the "
        "first block's stem."
    ),
    new_code_cell(
        "import keras\n"
        "from keras import layers, ops\n\n\n"
        "class ResidualBlock(layers.Layer):\n"
        "    def __init__(self, filters, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.conv1 = layers.Conv2D(filters, 3, padding=\"same\")\n"
        "        self.conv2 = layers.Conv2D(filters, 3, padding=\"same\")\n"
        "        self.project = layers.Conv2D(filters, 1)\n\n"
        "    def call(self, x):\n"
        "        y = self.conv2(ops.relu(self.conv1(x)))\n"
        "        return ops.relu(y + self.project(x))\n\n\n"
        "class TinyResNet(keras.Model):\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.block1 = ResidualBlock(16, name=\"block1\")\n"
        "        self.block2 = ResidualBlock(32, name=\"block2\")\n"
        "        self.pool = layers.GlobalAveragePooling2D()\n"
        "        self.head = layers.Dense(10)\n\n"
        "    def call(self, x):\n"
        "        return self.head(self.pool(self.block2(self.block1(x))))\n\n\n"
        "model = TinyResNet(name=\"tiny_resnet\")\n"
        "model(keras.ops.zeros((1, 32, 32, 3)))  # built the usual way: called once\n"
        "shapetrace.trace(model)"
    ),
    new_code_cell("shapetrace.trace(model, channels=1)"),
    new_markdown_cell(
        "## Side by side, and across models\n\n"
        "A comparison aligns two probes through the same model; a survey asks several models the same "
        "question. Both display themselves the same way."
    ),
    new_code_cell(
        "from shapetrace.explore.compare import compare_channels\n\n"
        "compare_channels(model, channels=3, other=1)"
    ),
    new_code_cell(
        "from shapetrace.explore.survey import survey\n\n"
        "survey(channels=1, size=(64, 64), models=\"^(efficientnetb0|mobilenetv2|resnet50)$\")"
    ),
    new_markdown_cell(
        "Everything here is the library the CLI is built on: `shapetrace efficientnetb5 --channels 1` prints the "
        "same table in a terminal, and `--format json` the same records."
    ),
]


def build() -> nbformat.NotebookNode:
    notebook = new_notebook(cells=CELLS)
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number:02d}"  # stable ids: a re-run changes outputs only
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


if __name__ == "__main__":
    nbformat.write(build(), NOTEBOOK)
    print(f"wrote {NOTEBOOK} (no outputs: execute it with the test, --shapetrace-update)")

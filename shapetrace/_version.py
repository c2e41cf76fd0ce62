"""The package's version, written once: read by setuptools (pyproject.toml), re-exported as
``shapetrace.__version__``, and recorded in baselines. A module of its own at the bottom of the
house, so that a baseline can name the version without importing the package's public face."""

__version__ = "0.1.0"

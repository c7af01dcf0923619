"""The project's version, in one place below everything that prints or records it (tests/test_install.py
checks it against pyproject.toml)."""

__version__ = "0.2.0"

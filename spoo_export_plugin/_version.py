"""The package's version, written once: pyproject.toml, ``__version__``, the CLI and the OpenAPI
document all read it from here."""

__version__ = "0.2.0.dev0"

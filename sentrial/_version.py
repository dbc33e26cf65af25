"""The package's version (its own module: the tracers' and meters' scopes read it without importing
the whole package)."""

VERSION = "0.1.0"

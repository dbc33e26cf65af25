"""Sentrial semantic conventions: every span name, span kind and attribute name the SDK uses, and
how ids are written.

The names are defined in :mod:`sentrial_otel_exporter.semconv` (the exporter reads them too and
depends on nothing of ``sentrial``); this module is the same names under the SDK's import path.
"""

# Every public name of the exporter's module, so this path keeps all of them without a second
# list to keep in step (mypy takes a star import as a re-export).
from sentrial_otel_exporter.semconv import *  # noqa: F403

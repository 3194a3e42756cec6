"""Limits on what a source may ask for, each with a diagnostic (docs/language.md, "Limits")."""

MAX_SOURCE_BYTES = 4 * 1024 * 1024  # RG001
MAX_QUERY_DEPTH = 64  # RG023: nesting of query documents and operator expressions
MAX_PATH_SEGMENTS = 32  # RG024: the Rego library reaches paths of at most this many segments
# Ordering operators compare arrays and objects nested this deep; deeper levels
# compare as scalars (docs/semantics.md).  Each level is a Rego function.
MAX_COMPARE_DEPTH = 8

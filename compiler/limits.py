"""Limits on what a source may ask for, each with a diagnostic (docs/language.md, "Limits")."""

MAX_SOURCE_BYTES = 4 * 1024 * 1024  # RG001
MAX_QUERY_DEPTH = 64  # RG023: nesting of query documents and operator expressions
# RG023: objects and arrays inside one another, anywhere in a file.  Bounds the
# recursion of every pass that walks values (the reader, to_json, schemas).
MAX_NESTING_DEPTH = 256
MAX_PATH_SEGMENTS = 32  # RG024: the Rego library reaches paths of at most this many segments
# Ordering operators compare arrays and objects nested this deep; deeper levels
# compare as scalars (docs/semantics.md).  Each level is a Rego function.
MAX_COMPARE_DEPTH = 8
# RG026: field operators and logical clauses in one policy's conditions.  Bounds
# build time: generating boundary tests (compiler/boundaries.py) grows with the
# square of the clauses, about 20 s at this limit.
MAX_CLAUSES = 256
# RG016: integers in conditions.  OPA compares numbers exactly, but the metadata
# it is handed passes through JSON tools that hold numbers as 64-bit floats,
# which hold every integer only up to 2^53: beyond it, a decision would depend on
# the tool.
MAX_EXACT_INTEGER = 2**53
MAX_REGEX_LENGTH = 1000  # RG022: characters in a $regex pattern
# A local `opa` run (eval, test) ends within this or is an error: never a hang.  `opa
# test` of a large bundle with its boundary tests takes minutes on a loaded machine.
OPA_TIMEOUT_SECONDS = 900
SIDECAR_TIMEOUT_SECONDS = 10  # an OPA sidecar answers within this or is an error
# A request file regate reads whole; real ones are kilobytes.  Bounds memory.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
# A request named as a pipe (`--input <(command)`) must start arriving within this.
INPUT_WAIT_SECONDS = 30.0

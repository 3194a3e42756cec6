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

# --- Requests (OPA's input), checked by the bundle and by the command line (docs/hardening.md) ---
# The request's JSON: bytes of a file the command line reads (RG102), characters of
# the request as OPA encodes it in the bundle (RQ018), bytes of a body the shipped
# sidecar configuration accepts (docs/ci/opa-config.yaml).  Every check the bundle
# makes is linear in the request, so this bounds the time a request can take: a
# real request is a few KB, and OPA alone spends about 0.2 s and 200 MB parsing
# 256 KiB nested 9,000 deep (docs/hardening.md).
MAX_REQUEST_SIZE = 256 * 1024
# The digits of an id in an NRN: nullplatform writes them as positive integers.
# The body a sidecar accepts (server.decoding.max_length, and gzip.max_length
# decompressed; docs/ci/opa-config.yaml, README): twice the request, so that
# indentation and {"input": ...} fit.  OPA refuses a larger body before parsing it.
MAX_SIDECAR_BODY = 2 * MAX_REQUEST_SIZE
MAX_NRN_ID_DIGITS = 19
# An NRN's id as nullplatform writes it: a positive integer, no leading zero (RG014, RQ006).
NRN_ID = f"[1-9][0-9]{{0,{MAX_NRN_ID_DIGITS - 1}}}"
MAX_DIMENSIONS = 64  # RQ012: dimensions in a scope
MAX_DIMENSION_LENGTH = 256  # RQ012: characters of a dimension's key or value
# RQ016, RG101: how a number may be written.  Every number so written is a finite
# 64-bit float of magnitude between 1e-300 and 1e300 (or zero), so JSON tools that
# read floats never see infinity or a number rounded to zero.
MAX_NUMBER_DIGITS = 100  # before the point, and after it
MAX_NUMBER_EXPONENT = 199  # absolute value of the exponent
MAX_REQUEST_ERRORS = 32  # errors a decision lists; RQ017 says how many more there are
MAX_SHOWN_VALUE = 64  # characters of a request's value quoted in an error message
MAX_ERROR_TEXT = 256  # characters of an error's path or message in a decision

# A local `opa` run (eval, test) ends within this or is an error: never a hang.  `opa
# test` of a large bundle with its boundary tests takes minutes on a loaded machine.
OPA_TIMEOUT_SECONDS = 900
SIDECAR_TIMEOUT_SECONDS = 10  # an OPA sidecar answers within this or is an error
# A request file regate reads whole; real ones are kilobytes.  Bounds memory.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
# A request named as a pipe (`--input <(command)`) must start arriving within this.
INPUT_WAIT_SECONDS = 30.0

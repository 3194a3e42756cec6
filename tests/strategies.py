"""Hypothesis strategies for regate sources: grammar-aware generation and mutation.

`source_projects()` draws a whole source project (file name → text): regate
blocks and JSON payloads written with the grammar's freedoms (comments,
trailing commas, bare words, unquoted keys), conditions built from every
operator, awkward numbers and text, then sometimes mutated at the byte level so
the parser and the passes behind it also see almost-valid input.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Text that has broken compilers before: quotes, escapes, Rego syntax, keywords,
# control characters, line separators, non-ASCII and astral characters.
NASTY_PIECES = (
    '"',
    "\\",
    "\n",
    "\r",
    "\t",
    "{",
    "}",
    "[",
    "]",
    "#",
    "`",
    "'",
    ":=",
    "if",
    "not",
    "import",
    "package",
    "input",
    "data",
    "default",
    "\x00",
    "\x1b",
    "\u2028",
    "\u2029",
    "\ufeff",
    "é",
    "名前",
    "😀",
    "$",
    "%",
    "=",
    ":",
    "/*",
    "*/",
    "//",
)

nasty_text = st.lists(
    st.one_of(st.sampled_from(NASTY_PIECES), st.text(max_size=3)), max_size=5
).map("".join)
plain_word = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)

# Numbers as the grammar reads them, including ones no float or exact Rego
# comparison can hold: overflow to infinity, more digits than Python converts.
number_text = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: json.dumps(f)),
    st.sampled_from(["1e400", "-1e400", "1e-400", "0.0", "-0", "9007199254740993", "1" * 5000]),
)

scalar_text = st.one_of(
    number_text,
    st.sampled_from(["true", "false", "null", '"\\ud800"', '"a\\udfffb"', '"\\ud83d\\ude00"']),
    nasty_text.map(json.dumps),
    nasty_text.map(lambda text: json.dumps(text, ensure_ascii=False)),
    plain_word.map(json.dumps),
)

ENTITIES = ("build", "deployment", "scope", "release", "application", "organization", "nothing")
# Paths into the specification `source_projects` always declares, some typed, some open.
KNOWN_PATHS = (
    "build.metadata.coverage.score",
    "build.metadata.coverage.name",
    "build.metadata.coverage.tags",
    "build.metadata.coverage.anything.below",
    "scope.dimensions.environment",
    "build.metadata.unknown.key",
)
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not")
ODD_OPERATORS = ("$regex", "$where", "$elemMatch", "$bogus", "$size", "$dynamicPattern", "$expr")


def key_text(key: str, draw_style: int) -> str:
    """An object key: quoted, or bare when the grammar allows it."""
    if draw_style and key.replace("_", "a").isalnum() and key[:1].isalpha():
        return key
    if draw_style and key.startswith("$") and key[1:].isalpha():
        return key
    return json.dumps(key)


@st.composite
def json_value_text(draw: st.DrawFn, depth: int = 2) -> str:
    """A JSON(-with-comments) value, as text."""
    if depth <= 0:
        return draw(scalar_text)
    kind = draw(st.integers(0, 5))
    if kind == 0:
        items = draw(st.lists(json_value_text(depth - 1), max_size=3))
        return "[" + separated(draw, items) + "]"
    if kind == 1:
        keys = draw(st.lists(st.one_of(plain_word, nasty_text), max_size=3))
        members = [
            f"{key_text(k, draw(st.integers(0, 1)))}: {draw(json_value_text(depth - 1))}"
            for k in keys
        ]
        return "{" + separated(draw, members) + "}"
    if kind == 2:
        return draw(plain_word)  # a bare word: a value only where a name is expected
    if kind == 3 and draw(st.booleans()):
        return f"{draw(st.sampled_from(['file', 'env']))}({json.dumps(draw(nasty_text))})"
    return draw(scalar_text)


def separated(draw: st.DrawFn, items: list[str]) -> str:
    """Items joined by commas, with a trailing comma and comments now and then."""
    gap = draw(st.sampled_from([", ", ",\n  ", " /* c */, ", ", # note\n  "]))
    text = gap.join(items)
    if items and draw(st.booleans()):
        text += ","
    return text


@st.composite
def operand_text(draw: st.DrawFn, operator: str, depth: int) -> str:
    if operator in ("$in", "$nin"):
        items = draw(st.lists(scalar_text, max_size=3))
        return "[" + separated(draw, items) + "]"
    if operator == "$exists":
        return draw(st.sampled_from(["true", "false", "1", "null"]))
    if operator == "$not":
        return draw(operator_expression(depth - 1))
    return draw(json_value_text(1))


@st.composite
def operator_expression(draw: st.DrawFn, depth: int) -> str:
    names = draw(
        st.lists(st.sampled_from(OPERATORS + ODD_OPERATORS), min_size=1, max_size=3, unique=True)
    )
    if depth <= 0:
        names = [n for n in names if n != "$not"] or ["$eq"]
    members = [
        f"{key_text(n, draw(st.integers(0, 1)))}: {draw(operand_text(n, depth))}" for n in names
    ]
    return "{" + separated(draw, members) + "}"


@st.composite
def query_text(draw: st.DrawFn, depth: int = 3) -> str:
    """A MongoDB query document: field conditions and $and/$or/$nor."""
    members: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        if depth > 0 and draw(st.integers(0, 3)) == 0:
            logical = draw(st.sampled_from(["$and", "$or", "$nor", "$xor"]))
            clauses = draw(st.lists(query_text(depth - 1), min_size=0, max_size=3))
            members.append(f'"{logical}": [{separated(draw, clauses)}]')
            continue
        if draw(st.integers(0, 5)) == 0:  # an aggregation expression, of anything
            members.append(f'"$expr": {draw(json_value_text(3))}')
            continue
        path = draw(
            st.one_of(
                st.sampled_from(KNOWN_PATHS),
                st.lists(st.one_of(plain_word, nasty_text), min_size=1, max_size=4).map(".".join),
                # Long paths under an open schema: each segment may be a key or an index.
                st.lists(plain_word, min_size=20, max_size=40).map(
                    lambda words: "build.metadata.coverage.anything." + ".".join(words)
                ),
                st.tuples(st.sampled_from(ENTITIES), plain_word).map(".".join),
            )
        )
        value = draw(
            st.one_of(operator_expression(depth), json_value_text(1))
            if depth > 0
            else json_value_text(1)
        )
        members.append(f"{json.dumps(path)}: {value}")
    return "{" + separated(draw, members) + "}"


SPECIFICATION = """specification "Coverage" {
  entity   = build
  metadata = coverage
  nrn      = "organization=1"
  schema   = {"type": "object", "additionalProperties": true, "properties": {
    "score": {"type": "number"}, "name": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}}}}
}
"""

NRNS = ("organization=1", "organization=1:account=2", "organization=1:account=x y", "org")
ACTIONS = ("deployment:create", "scope:create", "scope:delete", "deployment:explode")


@st.composite
def policy_block(draw: st.DrawFn, name: str) -> str:
    attributes = [
        f"nrn = {json.dumps(draw(st.sampled_from(NRNS)))}",
        f"conditions = {draw(query_text())}",
    ]
    if draw(st.integers(0, 4)) == 0:
        attributes.append(f"description = {draw(json_value_text(1))}")
    if draw(st.integers(0, 6)) == 0:
        attributes.pop(draw(st.integers(0, len(attributes) - 1)))
    return f"policy {json.dumps(name)} {{\n  " + "\n  ".join(attributes) + "\n}\n"


@st.composite
def action_block(draw: st.DrawFn, policies: list[str]) -> str:
    bound = draw(st.lists(st.sampled_from(policies), unique=True)) if policies else []
    attributes = [
        f"action = {json.dumps(draw(st.sampled_from(ACTIONS)))}",
        f"nrn = {json.dumps(draw(st.sampled_from(NRNS)))}",
        f"dimensions = {{{json.dumps(draw(plain_word))}: {draw(scalar_text)}}}",
        f"on_policy_success = {draw(st.sampled_from(['approve', 'manual', 'deny', '1']))}",
        f"on_policy_fail = {draw(st.sampled_from(['manual', 'deny', 'approve', 'null']))}",
        "policies = [" + ", ".join(json.dumps(p) for p in bound) + "]",
    ]
    if draw(st.integers(0, 5)) == 0:
        attributes.append(f"{draw(plain_word)} = {draw(json_value_text(1))}")
    label = draw(st.one_of(plain_word, nasty_text))
    return f"action {json.dumps(label)} {{\n  " + "\n  ".join(attributes) + "\n}\n"


@st.composite
def specification_block(draw: st.DrawFn) -> str:
    """The fixed specification, or one with a drawn schema, entity and key."""
    if draw(st.booleans()):
        return SPECIFICATION
    return (
        f"specification {json.dumps(draw(nasty_text))} {{\n"
        f"  entity = {draw(st.sampled_from(ENTITIES))}\n"
        f"  metadata = {draw(st.one_of(plain_word, nasty_text.map(json.dumps)))}\n"
        f'  nrn = "organization=1"\n'
        f"  schema = {draw(st.one_of(schema_text(), json_value_text(3), schema_file_call))}\n}}\n"
    )


schema_file_call = st.one_of(
    st.just('file("schemas/drawn.json")'), nasty_text.map(lambda path: f"file({json.dumps(path)})")
)


@st.composite
def schema_text(draw: st.DrawFn, depth: int = 2) -> str:
    """A JSON Schema object: mostly well-formed, with drawn values in odd places."""
    kind = draw(st.sampled_from(["object", "array", "number", "string", "boolean", "bogus"]))
    members = [f'"type": {json.dumps(kind)}']
    if kind == "object" and depth > 0:
        properties = [
            f"{json.dumps(draw(plain_word))}: "
            + draw(st.one_of(schema_text(depth - 1), json_value_text(1)))
            for _ in range(draw(st.integers(0, 3)))
        ]
        members.append('"properties": {' + separated(draw, properties) + "}")
        members.append(f'"additionalProperties": {draw(st.sampled_from(["true", "false", "{}"]))}')
    if kind == "array" and depth > 0:
        members.append(f'"items": {draw(schema_text(depth - 1))}')
    if draw(st.integers(0, 3)) == 0:
        keyword = draw(st.sampled_from(["minimum", "enum", "$ref", "pattern", "anyOf", "x"]))
        members.append(f"{json.dumps(keyword)}: {draw(json_value_text(1))}")
    return "{" + separated(draw, draw(st.permutations(members))) + "}"


@st.composite
def regate_file(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.one_of(plain_word, nasty_text), min_size=1, max_size=3))
    blocks = [draw(specification_block())] if draw(st.integers(0, 4)) else []
    blocks += [draw(policy_block(name)) for name in names]
    blocks += [draw(action_block(names)) for _ in range(draw(st.integers(0, 2)))]
    return "\n".join(draw(st.permutations(blocks)))


@st.composite
def payload_file(draw: st.DrawFn) -> str:
    """API payloads (JSON) for a policy and an action binding it."""
    name = draw(st.one_of(plain_word, nasty_text))
    policy = (
        f'{{"name": {json.dumps(name)}, "nrn": {json.dumps(draw(st.sampled_from(NRNS)))}, '
        f'"conditions": {draw(query_text())}}}'
    )
    action = (
        f'{{"entity": "deployment", "action": "deployment:create", "nrn": "organization=1", '
        f'"dimensions": {{"environment": {draw(scalar_text)}}}, '
        f'"on_policy_success": "approve", "policies": [{json.dumps(name)}]}}'
    )
    return draw(st.sampled_from([f"[{policy}, {action}]", policy, action, "[]", "{}"]))


# Text a mutation inserts: tokens of the language and bytes that are not.
MUTATION_TOKENS = ("{", "}", "[", "]", ",", ":", "=", '"', "#", "/*", "$or", "1e999", "\x00", "\\")


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """`text` with a few deletions, duplications and insertions."""
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start, min(len(text), start + 12)))
        choice = draw(st.integers(0, 2))
        if choice == 0:
            text = text[:start] + text[end:]
        elif choice == 1:
            text = text[:end] + text[start:end] + text[end:]
        else:
            piece = draw(st.one_of(st.sampled_from(MUTATION_TOKENS), st.text(max_size=2)))
            text = text[:start] + piece + text[start:]
    return text


# --- Well-formed projects: they reach check, lower, emit and bundle ---

# Paths under SPECIFICATION, each with operands of its type.
exact_number = st.one_of(
    st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False)
).map(json.dumps)
TYPED_PATHS = {
    "build.metadata.coverage.score": exact_number,
    "build.metadata.coverage.name": nasty_text.map(json.dumps),
    "build.metadata.coverage.tags": nasty_text.map(json.dumps),
}
COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


@st.composite
def valid_operators(draw: st.DrawFn, operand: st.SearchStrategy[str], depth: int) -> str:
    members = []
    for op in draw(st.lists(st.sampled_from((*COMPARISONS, "$in", "$nin", "$exists", "$not")),
                            min_size=1, max_size=3, unique=True)):  # fmt: skip
        if op in ("$in", "$nin"):
            value = "[" + ", ".join(draw(st.lists(operand, max_size=3))) + "]"
        elif op == "$exists":
            value = draw(st.sampled_from(["true", "false"]))
        elif op == "$not":
            if depth <= 0:
                continue
            value = draw(valid_operators(operand, depth - 1))
        else:
            value = draw(operand)
        members.append(f'"{op}": {value}')
    return "{" + (", ".join(members) or '"$exists": true') + "}"


@st.composite
def valid_query(draw: st.DrawFn, depth: int = 3) -> str:
    members = []
    for _ in range(draw(st.integers(0, 3))):
        if depth > 0 and draw(st.integers(0, 3)) == 0:
            logical = draw(st.sampled_from(["$and", "$or", "$nor"]))
            clauses = draw(st.lists(valid_query(depth - 1), min_size=1, max_size=3))
            if not any(member.startswith(f'"{logical}"') for member in members):
                members.append(f'"{logical}": [{", ".join(clauses)}]')
            continue
        if draw(st.integers(0, 3)) == 0:  # an open part of the schema, deep or not
            length = draw(st.sampled_from([1, 3, 10, 28]))  # 4 + 28 segments: the limit
            words = draw(st.lists(plain_word, min_size=length, max_size=length))
            path, operand = "build.metadata.coverage.anything." + ".".join(words), scalar_text
        else:
            path = draw(st.sampled_from(sorted(TYPED_PATHS)))
            operand = TYPED_PATHS[path]
        if any(member.startswith(json.dumps(path) + ":") for member in members):
            continue  # a key twice is an error (RG015)
        value = draw(st.one_of(operand, valid_operators(operand, depth)))
        members.append(f"{json.dumps(path)}: {value}")
    if draw(st.integers(0, 3)) == 0 and not any(m.startswith('"$expr"') for m in members):
        # Arithmetic on the score compared with a number, or with another field.
        other = draw(st.sampled_from(['"$build.metadata.coverage.score"', *EXPR_OPERANDS]))
        op = draw(st.sampled_from(COMPARISONS))
        members.append(
            f'"$expr": {{"{op}": [{{"$add": ["$build.metadata.coverage.score", 1]}}, {other}]}}'
        )
    if draw(st.integers(0, 3)) == 0 and not any(
        m.startswith('"build.metadata.coverage.name"') for m in members
    ):
        template = json.dumps("^{n}" + draw(st.sampled_from(["", "-[a-z]+$", ".*", "\\d{2}"])))
        members.append(
            f'"build.metadata.coverage.name": {{"$dynamicPattern": {{"template": {template}, '
            f'"fields": {{"n": {{"path": "build.metadata.coverage.{draw(plain_word)}"}}}}}}}}'
        )
    return "{" + ", ".join(members) + "}"


EXPR_OPERANDS = ("0", "80.5", "null", '"x"', '{"$literal": [1]}')


@st.composite
def valid_project(draw: st.DrawFn) -> dict[str, str]:
    names = draw(st.lists(nasty_text.filter(bool), min_size=1, max_size=3, unique=True))
    blocks = [SPECIFICATION]
    for name in names:
        blocks.append(
            f'policy {json.dumps(name)} {{\n  nrn = "organization=1"\n'
            f"  conditions = {draw(valid_query())}\n}}\n"
        )
    for index in range(draw(st.integers(1, 2))):
        bound = ", ".join(json.dumps(n) for n in draw(st.lists(st.sampled_from(names))))
        blocks.append(
            f"action {json.dumps(draw(nasty_text) + str(index))} {{\n"
            f'  action = "deployment:create"\n  nrn = "organization=1"\n'
            f"  dimensions = {{{json.dumps(draw(nasty_text))}: {json.dumps(draw(nasty_text))}}}\n"
            f"  on_policy_success = {draw(st.sampled_from(['approve', 'manual']))}\n"
            f"  on_policy_fail = {draw(st.sampled_from(['manual', 'deny']))}\n"
            f"  policies = [{bound}]\n}}\n"
        )
    return {"policies.rg": "\n".join(blocks)}


@st.composite
def wild_project(draw: st.DrawFn) -> dict[str, str]:
    """Anything the grammar's pieces make, mostly wrong somewhere."""
    files = {"policies.rg": draw(regate_file())}
    if draw(st.booleans()):
        files["payloads.json"] = draw(payload_file())
    if draw(st.booleans()):
        files["schemas/drawn.json"] = draw(st.one_of(schema_text(), json_value_text(2)))
    return files


@st.composite
def source_projects(draw: st.DrawFn) -> dict[str, str]:
    """A source project: file name → text, well-formed or wild, sometimes mutated."""
    files = draw(st.one_of(valid_project(), wild_project()))
    if draw(st.integers(0, 2)) == 0:
        name = draw(st.sampled_from(sorted(files)))
        files[name] = draw(mutated(files[name]))
    return files

"""Parse pass: regate sources and JSON payloads → declarations; syntax errors as diagnostics."""

from __future__ import annotations

import json
import os
import textwrap
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from compiler.ast import (
    Array,
    Call,
    Comparison,
    Exists,
    FieldCondition,
    Identifier,
    Logical,
    Member,
    Node,
    NotOp,
    Object,
    Scalar,
    Span,
)
from compiler.diagnostics import render_all_text
from compiler.parse import (
    Attribute,
    Block,
    _parser,
    number_value,
    parse_json_document,
    parse_source,
    read_blocks,
)
from compiler.sources import Source
from tests.conftest import REPO
from tests.strategies import json_value_text, mutated, payload_file, regate_file, schema_text


def parse_text(text: str, path: str = "policies.rg"):
    source = Source(path, path, textwrap.dedent(text), explicit=True)
    file, diagnostics = parse_source(source)
    return file, render_all_text(diagnostics, {path: source.text})


def test_blocks_become_declarations():
    file, rendered = parse_text(
        """
        // a comment, and another kind below
        policy "Code Coverage" {
          nrn = "organization=1"   # trailing comment
          conditions = {
            "build.metadata.coverage.code.coverage": {$gte: 80, "$lt": 101,},
            /* block comment */
          }
        }
        action "gate" {
          action = "deployment:create"
          nrn = "organization=1"
          dimensions = {"environment": "production", "country": "ar"}
          on_policy_fail = deny
          policies = ["Code Coverage"]
        }
        """
    )
    assert rendered == ""
    (policy,) = file.policies
    assert policy.name == "Code Coverage"
    assert policy.nrn.text == "organization=1"
    (condition,) = policy.conditions.conditions
    assert isinstance(condition, FieldCondition)
    assert condition.path.segments == ("build", "metadata", "coverage", "code", "coverage")
    assert [(op.op, op.value) for op in condition.operators] == [("$gte", 80), ("$lt", 101)]
    (action,) = file.actions
    assert action.id == "gate"
    assert action.entity == "deployment"  # derived from the action
    assert action.dimensions == (("country", "ar"), ("environment", "production"))
    assert (action.on_policy_success, action.on_policy_fail) == ("manual", "deny")
    assert [p.name for p in action.policies] == ["Code Coverage"]


def test_every_v0_operator_is_read():
    file, rendered = parse_text(
        """
        policy "p" {
          nrn = "organization=1"
          conditions = {
            "scope.dimensions.environment": "production",
            "build.metadata.a": {"$ne": null, "$in": [1, 2], "$nin": [3], "$exists": true},
            "build.metadata.b": {"$not": {"$gt": 1, "$lte": 5}},
            "$or": [{"build.metadata.c": 1}, {"$and": [{"build.metadata.d": 2}]}],
            "$nor": [{"build.metadata.e": {"$eq": false}}],
          }
        }
        """
    )
    assert rendered == ""
    conditions = file.policies[0].conditions.conditions
    assert isinstance(conditions[0], FieldCondition)
    assert conditions[0].operators == (
        Comparison(
            "$eq", "production", conditions[0].operators[0].span, conditions[0].operators[0].span
        ),
    )
    assert [type(op).__name__ for op in conditions[1].operators] == [
        "Comparison",
        "Comparison",
        "Comparison",
        "Exists",
    ]
    assert isinstance(conditions[1].operators[3], Exists)
    assert isinstance(conditions[2].operators[0], NotOp)
    assert [c.op for c in conditions[3:]] == ["$or", "$nor"]
    assert all(isinstance(c, Logical) for c in conditions[3:])


def test_json_payloads_are_read_as_the_api_takes_them():
    file, rendered = parse_text(
        """
        [
          {"nrn": "organization=1", "name": "Security", "id": 12345,
           "conditions": {"build.metadata.security.critical": {"$eq": 0}}},
          {"nrn": "organization=1", "entity": "deployment", "action": "deployment:create",
           "dimensions": {"environment": "production"},
           "on_policy_success": "approve", "on_policy_fail": "manual", "policies": ["Security"]}
        ]
        """,
        path="payloads.json",
    )
    assert rendered == ""
    assert [p.name for p in file.policies] == ["Security"]
    (action,) = file.actions
    # No id: one derived from what nullplatform keeps unique (action, NRN, dimensions).
    assert action.id == "deployment:create@organization=1[environment=production]"
    assert action.id_is_derived


def test_syntax_error_points_at_the_token_with_a_hint():
    _, rendered = parse_text(
        """
        policy "p" {
          nrn: "organization=1"
        }
        """
    )
    assert rendered == (
        'policies.rg:3:6: error[RG002]: unexpected ":"; expected "="\n'
        ' 3 |   nrn: "organization=1"\n'
        "   |      ^\n"
        "help: block attributes are written `name = value`\n"
        "\n"
        "1 error, 0 warnings\n"
    )


def test_unterminated_block_reports_the_end_of_file():
    _, rendered = parse_text('policy "p" {\n  nrn = "organization=1"\n')
    assert rendered.startswith("policies.rg:2:25: error[RG002]: unexpected end of file; expected")


def test_unknown_block_and_attribute_get_suggestions():
    _, rendered = parse_text(
        """
        polcy "p" {}
        policy "q" {
          nrn = "organization=1"
          condition = {}
        }
        """
    )
    assert rendered == (
        "policies.rg:2:1: error[RG010]: unknown block `polcy`\n"
        ' 2 | polcy "p" {}\n'
        "   | ^^^^^\n"
        'help: did you mean "policy"?\n'
        "\n"
        "policies.rg:3:1: error[RG011]: policy is missing `conditions`\n"
        ' 3 | policy "q" {\n'
        "   | ^^^^^^\n"
        "help: add `conditions = ...`\n"
        "\n"
        "policies.rg:5:3: error[RG010]: unknown attribute `condition` in a policy\n"
        " 5 |   condition = {}\n"
        "   |   ^^^^^^^^^\n"
        'help: did you mean "conditions"?\n'
        "\n"
        "3 errors, 0 warnings\n"
    )


def test_unsupported_and_unknown_operators_are_rejected():
    _, rendered = parse_text(
        """
        policy "p" {
          nrn = "organization=1"
          conditions = {"build.metadata.a": {"$where": "x"}, "build.metadata.b": {"$gtx": 1}}
        }
        """
    )
    assert rendered == (
        "policies.rg:4:38: error[RG021]: operator $where is not supported yet\n"
        ' 4 |   conditions = {"build.metadata.a": {"$where": "x"}, "build.metadata.b": {"$gtx": 1}}\n'
        "   |                                      ^^^^^^^^\n"
        "help: supported here: $eq $ne $gt $gte $lt $lte $in $nin $exists $not $type $regex "
        "$options $mod $all $elemMatch $size\n"
        "\n"
        "policies.rg:4:75: error[RG020]: unknown operator $gtx\n"
        ' 4 |   conditions = {"build.metadata.a": {"$where": "x"}, "build.metadata.b": {"$gtx": 1}}\n'
        "   |                                                                           ^^^^^^\n"
        'help: did you mean "$gt"?\n'
        "\n"
        "2 errors, 0 warnings\n"
    )


def test_operand_errors_and_duplicate_keys():
    _, rendered = parse_text(
        """
        policy "p" {
          nrn = "organization=1"
          conditions = {"build.metadata.a": {"$in": 3}, "build.metadata.a": production}
        }
        """
    )
    assert "error[RG022]: $in takes an array of values" in rendered
    assert (
        'error[RG015]: duplicate key "build.metadata.a" in an object (first at line 4)' in rendered
    )
    assert "error[RG022]: bare word `production` is not a value" in rendered
    assert 'help: quote it: "production"' in rendered


def test_malformed_nrn_and_outcome():
    _, rendered = parse_text(
        """
        action "a" {
          action = "deployment:create"
          nrn = "<organization=XXXXXX:account=XXXXXX>"
          on_policy_success = deny
        }
        """
    )
    assert 'error[RG014]: malformed NRN "<organization=XXXXXX:account=XXXXXX>"' in rendered
    assert 'error[RG012]: `on_policy_success` must be manual or approve, not "deny"' in rendered


def test_a_json_file_that_is_not_a_payload_is_an_error_when_named():
    _, rendered = parse_text('{"type": "object"}', path="schema.json")
    assert rendered.startswith("schema.json:1:1: error[RG003]: schema.json is not a regate payload")


def test_a_json_file_that_is_not_a_payload_is_skipped_in_a_directory_scan():
    source = Source("dir/request.json", "request.json", '{"action": "x", "entities": {}}', False)
    assert parse_source(source) == (None, [])


def test_limits_on_paths_and_nesting():
    long_path = ".".join(["build", "metadata"] + [f"k{i}" for i in range(31)])
    _, rendered = parse_text(
        f'policy "p" {{ nrn = "organization=1" conditions = {{"{long_path}": 1}} }}'
    )
    assert "error[RG024]: path has 33 segments; at most 32 are supported" in rendered
    deep = '{"scope.tier": "a"}'
    for _ in range(70):
        deep = '{"$or": [' + deep + "]}"
    _, rendered = parse_text(f'policy "p" {{ nrn = "organization=1" conditions = {deep} }}')
    assert "error[RG023]: conditions nest deeper than 64 levels" in rendered


def test_regex_with_a_pcre_only_construct_is_rejected():
    _, rendered = parse_text(
        """
        policy "p" {
          nrn = "organization=1"
          conditions = {"build.metadata.a": {"$regex": "^(?=x)y"}}
        }
        """
    )
    assert rendered == (
        "policies.rg:4:48: error[RG025]: $regex uses a look-ahead, which RE2 (OPA's regex "
        "engine) does not support\n"
        ' 4 |   conditions = {"build.metadata.a": {"$regex": "^(?=x)y"}}\n'
        "   |                                                ^^^^^^^^^\n"
        "help: at character 2 of the pattern; rewrite it without look-around, back-references, "
        "possessive quantifiers or atomic groups\n"
        "\n"
        "1 error, 0 warnings\n"
    )


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        ("(a)\\\\1", "back-reference \\1"),
        ("(?<!a)b", "negative look-behind"),
        ("a*+", "possessive quantifier"),
        ("(?>ab)", "atomic group"),
    ],
)
def test_regex_rejections_name_the_construct(pattern, construct):
    rendered = _rendered_condition(f'{{"$regex": "{pattern}"}}')
    assert f"error[RG025]: $regex uses a {construct}," in rendered


@pytest.mark.parametrize(
    ("operand", "message"),
    [
        ('{"$mod": [0, 1]}', "$mod divisor cannot be 0"),
        ('{"$mod": [2]}', "$mod takes exactly two numbers: [divisor, remainder]"),
        ('{"$size": -1}', "$size takes a whole number of elements, >= 0"),
        ('{"$type": "date"}', '$type "date" is not a type a JSON value can have'),
        ('{"$options": "i"}', "$options needs a $regex beside it"),
        ('{"$regex": "a", "$options": "q"}', "unknown $options letter 'q'"),
        ('{"$elemMatch": 1}', "$elemMatch takes a query document or an operator expression"),
    ],
)
def test_operand_errors_of_the_other_operators(operand, message):
    rendered = _rendered_condition(operand)
    assert f": error[RG022]: {message}\n" in rendered


def _rendered_condition(operand: str) -> str:
    """The diagnostics of a policy whose one condition is `build.metadata.a: operand`."""
    text = (
        f'policy "p" {{ nrn = "organization=1"  conditions = {{"build.metadata.a": {operand}}} }}'
    )
    return str(parse_text(text)[1])


# --- The reader reads what the grammar derives ---
#
# compiler/parse.py reads sources by recursive descent and hands text it cannot read
# to Lark.  The oracle below is the grammar's own tree from Lark, turned into value
# nodes: for any text, both must give the same nodes and diagnostics, or both fail.


def grammar_nodes(text: str, start: str) -> tuple[object, list[tuple[str, Span]]] | None:
    """Lark's tree of `text` as nodes and the (code, span) of each diagnostic in the order
    a bottom-up walk meets them; None when the grammar does not derive the text."""
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput:
        return None
    diagnostics: list[tuple[str, Span]] = []

    def span(token: Token) -> Span:
        return Span("f", token.line, token.column, token.end_line, token.end_column)

    def tree_span(tree: Tree[Token]) -> Span:
        meta = tree.meta
        return Span("f", meta.line, meta.column, meta.end_line, meta.end_column)

    def decode(token: Token) -> str:
        decoded: str = json.loads(token)
        if any("\ud800" <= c <= "\udfff" for c in decoded):
            diagnostics.append(("RG002", span(token)))
            return decoded.encode("utf-8", "replace").decode()
        return decoded

    def value(tree: Tree[Token]) -> Node:
        match tree.data:
            case "object":
                members = []
                for member in tree.children:
                    assert isinstance(member, Tree)
                    key, item = member.children
                    assert isinstance(key, Token) and isinstance(item, Tree)
                    read = value(item)
                    if key.type == "STRING":
                        decoded = decode(key)
                        offset = 1 if len(decoded) + 2 == len(key) else None
                    else:
                        decoded, offset = str(key), 0
                    members.append(Member(decoded, span(key), read, offset))
                keys = [m.key for m in members]
                diagnostics.extend(
                    ("RG015", m.key_span) for i, m in enumerate(members) if m.key in keys[:i]
                )
                return Object(tuple(members), tree_span(tree))
            case "array":
                items = tuple(value(cast(Tree[Token], c)) for c in tree.children)
                return Array(items, tree_span(tree))
        first = tree.children[0]
        assert isinstance(first, Token)
        match tree.data:
            case "string":
                return Scalar(decode(first), span(first))
            case "number":
                number = number_value(first)
                if number is None:
                    diagnostics.append(("RG016", span(first)))
                return Scalar(number, span(first))
            case "true" | "false" | "null":
                return Scalar({"true": True, "false": False}.get(tree.data), span(first))
            case "identifier":
                return Identifier(str(first), span(first))
        assert tree.data == "call"
        return Call(str(first), decode(cast(Token, tree.children[1])), tree_span(tree))

    def block(tree: Tree[Token]) -> Block:
        kind, *rest = tree.children
        assert isinstance(kind, Token)
        label_token = rest.pop(0) if rest and isinstance(rest[0], Token) else None
        attributes = []
        for attribute in rest:
            name, item = cast(Tree[Token], attribute).children
            assert isinstance(name, Token)
            attributes.append(Attribute(str(name), span(name), value(cast(Tree[Token], item))))
        label = Scalar(decode(label_token), span(label_token)) if label_token else None
        return Block(str(kind), span(kind), label, tuple(attributes), tree_span(tree))

    if start == "value":
        return value(tree), diagnostics
    return [block(cast(Tree[Token], b)) for b in tree.children], diagnostics


def assert_reads_as_the_grammar(text: str) -> None:
    source = Source("f", "f", text, explicit=True)
    for start, read in (("module", read_blocks), ("value", parse_json_document)):
        expected = grammar_nodes(text, start)
        nodes, diagnostics = read(source)
        if expected is None:
            assert nodes is None
            assert [d.code for d in diagnostics] == ["RG002"]
        else:
            assert (nodes, [(d.code, d.span) for d in diagnostics]) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  \n# only a comment",
        "{} [] {a: {}, b: []}",
        '{true: 1, null: [true, True, null, false], "a": -0.5e+3}',
        "true { true = true false = x }",
        'policy "p" { schema = file ( "s.json" ) x = file }',
        'p "" {} q {}',
        '{a: 1,} [1, 2,] {"$gte": {$lt: []}}',
        "{,}",
        "[1,,2]",
        "[,]",
        "{a: 1 b: 2}",
        "{a-b_c: x-y}",
        "{$gte 1}",
        "[$gte]",
        'true("x")',
        'file("x" "y")',
        '"\\ud800" "\\u00e9\\n\\"" "é😀名前"',
        '{"a\\u0062": 1, "ab": 2, "ab": 3}',
        '["\\ud83d\\ude00", "a\\udfffb"]',
        "[1e400, -1e400, 1e-400, 9007199254740993, 01, 1., .5, -, 1e, 1E+2]",
        "[" + "1" * 5000 + "]",
        "/* unterminated",
        "/* a */ /* b\n c */ [1] // end",
        "[1,\r\n 2,\f\t3]",
        "[1,\v2]",
        "[1,\u00a02]",
        '["\x00"]',
        '["\t"]',
        "{'a': 1}",
        "x = 1",
        'policy "😀" {\n  a = {"😀": [1, 2]}\n}',
        "[[[]]] [",
        "}",
    ],
)
def test_the_reader_agrees_with_the_grammar_on_edge_cases(text):
    assert_reads_as_the_grammar(text)


@settings(
    max_examples=int(os.environ.get("REGATE_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.one_of(regate_file(), payload_file(), json_value_text(3), schema_text()).flatmap(
        lambda text: st.one_of(st.just(text), mutated(text))
    )
)
def test_the_reader_agrees_with_the_grammar_on_generated_text(text):
    assert_reads_as_the_grammar(text)


def test_every_source_in_the_repo_reads_as_the_grammar_derives_it():
    for pattern in (
        "bundles/**/*.rg",
        "bundles/**/*.json",
        "tests/fixtures/**/*.rg",
        "tests/fixtures/**/*.json",
    ):
        for path in sorted(REPO.glob(pattern)):
            assert_reads_as_the_grammar(path.read_text())

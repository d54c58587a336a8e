"""workflows.schema.json: the example and valid fixtures pass, the expressible invalid ones fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from infra import workflows as loader
from infra import workflows_schema
from infra.intercom_url import intercom_url_problem
from infra.secret_patterns import INTERCOM_URL_PATTERN, SIGNING_SECRET_PATTERN
from infra.workflows import WorkflowsFileError, parse_workflows
from relay_function.naming import DEFAULT_EVENTS, KNOWN_EVENTS, WORKFLOW_ID_MAX_LENGTH

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "workflows"
SCHEMA: dict[str, Any] = json.loads((ROOT / "workflows.schema.json").read_text())

# Invalid fixtures the schema can express, so editors flag them as people type.
SCHEMA_REJECTS = [
    "config_namespaced",
    "config_unknown_key",
    "description_number",
    "empty",  # loads as null, not an object
    "events_duplicate",
    "events_empty",
    "events_string",
    "events_unknown",
    "id_number",
    "id_too_long",
    "id_trailing_hyphen",
    "id_underscore",
    "id_uppercase",
    "many_problems",
    "missing_url",
    "missing_version",
    "missing_workflows",
    "signing_secret_as_url",
    "signing_secret_config_key",
    "signing_secret_description",
    "signing_secret_literal",
    "signing_secret_stack",
    "stacks_bad_name",
    "stacks_bool",
    "stacks_duplicate",
    "stacks_empty",
    "top_level_list",
    "unknown_top_key",
    "unknown_workflow_key",
    "url_as_id",
    "url_encoded_placeholder",
    "url_host",
    "url_http",
    "url_in_description",
    "url_number",
    "url_path_non_ascii",
    "url_placeholder",
    "url_port",
    "url_query",
    "url_trailing_slash",
    "url_userinfo",
    "version_2",
    "version_string",
    "workflows_not_list",
]
# What a JSON Schema cannot express: only the loader catches these.
#  - duplicate_key: YAML loads keep the last of two equal keys, so the schema never sees both.
#  - duplicate_id: uniqueness of one property across array items is not expressible.
#  - not_yaml: there is no document to validate.
#  - config_key_reused, config_key_shared: a schema cannot compare the values of two properties.
#  - tab_indented: like not_yaml, there is no document.
LOADER_ONLY = [
    "config_key_reused",
    "config_key_shared",
    "duplicate_id",
    "duplicate_key",
    "not_yaml",
    "tab_indented",
]


def validator() -> Draft202012Validator:
    return Draft202012Validator(SCHEMA)


def definition(name: str) -> Draft202012Validator:
    """A validator for one of the schema's $defs, with its references resolvable."""
    return Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{name}"})


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", ["workflows.yaml", "examples/workflows.yaml"])
def test_shipped_workflows_files_pass(path: str) -> None:
    assert list(validator().iter_errors(load_yaml(ROOT / path))) == []


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("workflows.yaml", "./workflows.schema.json"),
        ("examples/workflows.yaml", "../workflows.schema.json"),
    ],
)
def test_shipped_files_point_editors_at_the_schema(path: str, schema: str) -> None:
    first_line = (ROOT / path).read_text().splitlines()[0]
    assert first_line == f"# yaml-language-server: $schema={schema}"
    assert (ROOT / path).parent.joinpath(schema).resolve() == ROOT / "workflows.schema.json"


@pytest.mark.parametrize("path", sorted((FIXTURES / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_fixture_passes(path: Path) -> None:
    assert list(validator().iter_errors(load_yaml(path))) == []


@pytest.mark.parametrize("name", SCHEMA_REJECTS)
def test_invalid_fixture_fails(name: str) -> None:
    document = load_yaml(FIXTURES / "invalid" / f"{name}.yaml")
    assert not validator().is_valid(document)


def test_every_invalid_fixture_is_classified() -> None:
    on_disk = {p.stem for p in (FIXTURES / "invalid").glob("*.yaml")}
    assert on_disk == set(SCHEMA_REJECTS) | set(LOADER_ONLY)


@pytest.mark.parametrize(
    "name", ["config_key_reused", "config_key_shared", "duplicate_id", "duplicate_key"]
)
def test_loader_only_fixture_passes_the_schema(name: str) -> None:
    """Documents the limit: the schema accepts these, which is why the loader checks them."""
    assert validator().is_valid(load_yaml(FIXTURES / "invalid" / f"{name}.yaml"))


def properties_without_description(node: Any, where: str = "#") -> list[str]:
    missing: list[str] = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if "description" not in sub:
                missing.append(f"{where}/properties/{name}")
        for key, sub in node.items():
            missing += properties_without_description(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            missing += properties_without_description(sub, f"{where}/{index}")
    return missing


def test_every_property_has_a_description() -> None:
    assert properties_without_description(SCHEMA) == []


def test_every_object_forbids_additional_properties() -> None:
    objects = [SCHEMA, *(d for d in SCHEMA["$defs"].values() if d.get("type") == "object")]
    assert len(objects) == 3
    assert all(o["additionalProperties"] is False for o in objects)


def test_schema_events_match_the_naming_module() -> None:
    events = SCHEMA["$defs"]["workflow"]["properties"]["events"]
    assert tuple(events["items"]["enum"]) == KNOWN_EVENTS
    assert tuple(events["default"]) == DEFAULT_EVENTS


def test_schema_id_rule_matches_the_naming_module() -> None:
    id_schema = SCHEMA["$defs"]["workflow"]["properties"]["id"]
    assert id_schema["maxLength"] == WORKFLOW_ID_MAX_LENGTH
    probe = Draft202012Validator(id_schema)
    for candidate, valid in [
        ("a", True),
        ("a-1", True),
        ("a-", False),
        ("A", False),
        ("1a", False),
    ]:
        assert probe.is_valid(candidate) is valid, candidate


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://intercom.example/fin/hooks/TESTONLY-token", True),
        ("https://intercom.example/fin/hooks/TESTONLY-token/<Conversation ID>", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token/{conversation_id}", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token/%3CConversation%20ID%3E", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token/:conversation_id", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token/conversationId", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token/", False),
        ("https://intercom.example", False),
        ("https://u@intercom.example/fin/hooks/TESTONLY-token", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token#x", False),
        ("https://intercom.example:8443/fin/hooks/TESTONLY-token", True),
        ("https://[2001:db8::1]/fin/hooks/TESTONLY-token", True),
        ("https://intercom.example:99999/fin/hooks/TESTONLY-token", False),
        ("https://intercom.example:0/fin/hooks/TESTONLY-token", False),
        ("https://intercom.example:abc/fin/hooks/TESTONLY-token", False),
        ("https://intercom..example/fin/hooks/TESTONLY-token", False),
        ("https://" + "a" * 64 + ".example/fin/hooks/TESTONLY-token", False),
        ("https://intercom.example/fin/hoöks/TESTONLY-token", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token\x7f", False),
        ("HTTPS://intercom.example/fin/hooks/TESTONLY-token", True),
        ("https://intercom.example/fin/hooks/TESTONLY-token/[id]", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token/$conversationId", False),
        ("https://intercom.example/fin/hooks/TESTONLY-token/%255Bid%255D", False),
    ],
)
def test_schema_literal_url_rule(url: str, valid: bool) -> None:
    assert definition("literalIntercomUrl").is_valid(url) is valid


@pytest.mark.parametrize(
    "url",
    [
        "https://intercom.example/fin/hooks/TESTONLY-token",
        "https://intercom.example:8443/fin/hooks/TESTONLY-token",
        "https://bücher.example/fin/hooks/TESTONLY-token",
        "https://intercom.example./fin/hooks/TESTONLY-token",
        "https://192.0.2.10/fin/hooks/TESTONLY-token",
        "https://intercom.example/fin/hooks/TESTONLY%C3%B6-token~",
        "https://intercom.example:99999/fin/hooks/TESTONLY-token",
        "https://intercom.example:+80/fin/hooks/TESTONLY-token",
        "https://intercom.example../fin/hooks/TESTONLY-token",
        "https://-intercom.example/fin/hooks/TESTONLY-token",
        "https://intercom_x.example/fin/hooks/TESTONLY-token",
        "https://intercom.example/fin/hooks/TESTONLY-token\u200b",
        "HTTPS://intercom.example/fin/hooks/TESTONLY-token",
        "https://intercom.example/fin/hooks/TESTONLY-token/(id)",
        "https://intercom.example/fin/hooks/TESTONLY{token}",
        "https://intercom.example/fin//TESTONLY-token",
    ],
)
def test_schema_and_loader_agree_on_hosts_ports_and_paths(url: str) -> None:
    """Editors flag exactly the URLs the loader (and so the relay) refuses, for these parts."""
    literal = definition("literalIntercomUrl")
    assert literal.is_valid(url) is (intercom_url_problem(url) is None)


def test_schema_secret_patterns_are_the_loaders() -> None:
    """One rule: the schema carries infra.secret_patterns' patterns, character for character."""
    assert SCHEMA["$defs"]["noSigningSecret"]["not"]["pattern"] == SIGNING_SECRET_PATTERN
    assert SCHEMA["$defs"]["noIntercomUrl"]["not"]["pattern"] == INTERCOM_URL_PATTERN


SECRET = "whsec_TESTONLYc2VjcmV0LXZhbHVlLTEyMzQ="
KEY_LIKE_SECRET = SECRET.rstrip("=")  # also a valid config key and stack name
GOOD = {"id": "a", "intercom_webhook_url": {"config": "aUrl"}}


SECRET_PLACES: list[Any] = [
    {**GOOD, "intercom_webhook_url": {"config": KEY_LIKE_SECRET}},
    {**GOOD, "jam_signing_secret": {"config": KEY_LIKE_SECRET}},
    {**GOOD, "jam_signing_secret": {"config": KEY_LIKE_SECRET.upper()}},
    {**GOOD, "description": f"the secret is {SECRET}"},
    {**GOOD, "description": "resumes https://api.INTERCOM.io/fin/hooks/TESTONLY-token"},
    {**GOOD, "stacks": ["dev", KEY_LIKE_SECRET]},
    {**GOOD, "intercom_webhook_url": SECRET},
    {**GOOD, "intercom_webhook_url": f"https://intercom.example/fin/{KEY_LIKE_SECRET}"},
    {**GOOD, "id": SECRET},
    {**GOOD, "id": "https://intercom.example/fin/hooks/TESTONLY-token"},
    {**GOOD, "intercom_webhook_url": {"config": "https://intercom.example/fin/hooks/x"}},
    {**GOOD, "jam_secret": SECRET},
    {**GOOD, SECRET: "x"},
]


@pytest.mark.parametrize("workflow", SECRET_PLACES)
def test_schema_rejects_secrets_and_urls_where_they_do_not_belong(workflow: Any) -> None:
    assert not validator().is_valid({"version": 1, "workflows": [workflow]})


def test_schema_allows_other_urls_in_a_description() -> None:
    workflow = {**GOOD, "description": "see https://jam.dev/docs/webhooks"}
    assert validator().is_valid({"version": 1, "workflows": [workflow]})


# ------------------------------------------------------------------------------------------
# The loader validates with this schema: they agree by construction


def test_the_loader_validates_with_the_committed_schema() -> None:
    assert workflows_schema.SCHEMA_PATH == ROOT / "workflows.schema.json"
    assert workflows_schema.SCHEMA == SCHEMA
    assert loader._VALIDATOR.schema == workflows_schema.inlined(SCHEMA)


def test_a_rule_changed_in_the_schema_changes_the_loaders_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loader has no rule of its own for what the schema says: change one, and it follows."""
    stricter = json.loads(json.dumps(SCHEMA))
    stricter["$defs"]["workflow"]["properties"]["events"]["maxItems"] = 1
    text = "version: 1\nworkflows:\n  - id: a\n    intercom_webhook_url: {config: aUrl}\n"
    parse_workflows(text)  # the committed schema's default: two events
    monkeypatch.setattr(
        loader, "_VALIDATOR", workflows_schema.Validator(workflows_schema.inlined(stricter))
    )
    with pytest.raises(WorkflowsFileError):
        parse_workflows(text + "    events: [jam.created, intercom.recorder.recorded]\n")


def test_inlining_the_references_keeps_every_verdict() -> None:
    """The loader validates the schema with its $refs inlined (for speed): same answers."""
    documents = []
    for path in sorted(FIXTURES.glob("*/*.yaml")):
        try:
            documents.append(load_yaml(path))
        except yaml.YAMLError:
            continue  # not YAML: nothing to validate
    documents += [{"version": 1, "workflows": [w]} for w in SECRET_PLACES]
    committed = validator()
    for document in documents:
        assert loader._VALIDATOR.is_valid(document) is committed.is_valid(document)


def test_an_upper_case_https_url_is_valid_in_the_schema_and_the_loader() -> None:
    url = "HTTPS://intercom.example/fin/hooks/TESTONLY-token"
    document = {"version": 1, "workflows": [{"id": "a", "intercom_webhook_url": url}]}
    assert validator().is_valid(document)
    text = f"version: 1\nworkflows:\n  - id: a\n    intercom_webhook_url: '{url}'\n"
    assert [w.id for w in parse_workflows(text).workflows] == ["a"]


def schema_patterns(node: Any) -> list[str]:
    """Every ``pattern`` in the schema (and its x-broken parts), in order, once each."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "pattern" and isinstance(sub, str):
                found.append(sub)
            elif key == "x-broken":
                parts = [part for rule in sub.values() if isinstance(rule, list) for part in rule]
                found += [part[0] for part in parts if part[0]]
            else:
                found += schema_patterns(sub)
    elif isinstance(node, list):
        for sub in node:
            found += schema_patterns(sub)
    return list(dict.fromkeys(found))


PATTERN_PROBES = [
    "billing-handoff",
    "billing\n",
    "\nbilling",
    "billing\r",
    "billing\n\n",
    "dev",
    "org/project/dev",
    "aUrl",
    "aUrl\n",
    "team:aUrl",
    "-a",
    "",
    "https://intercom.example/h/TESTONLY",
    "https://intercom.example/h/TESTONLY\n",
    "https://intercom.example/h/TESTONLY/",
    "HTTPS://INTERCOM.EXAMPLE/h/x",
    "https://bücher.example/h/x",
    "https://[2001:db8::1]:443/h/x",
    "https://intercom.example:0/h/x",
    "https://intercom.example/h/%3CConversation%20ID%3E",
    "https://intercom.example/h/:conversation_id",
    "https://intercom.example/h/{conversation_id}",
    "https://intercom.example/h/$conversationId",
    "https://intercom.example/h/$conversationId\n",
    "see https://app.intercom.io/x",
    "whsec_TESTONLY",
    "WHSEC_x",
    "tab\tin",
    # Where Python's \s and ECMA's differ, inside an Intercom URL in a description.
    "https://\x1cintercom.example/h",
    "https://\x85intercom.example/h",
    "https://\ufeffintercom.example/h",
    "https://\u2028intercom.example/h",
    "https://\xa0intercom.example/h",
]


def test_the_loader_reads_every_schema_pattern_as_editors_do() -> None:
    """JSON Schema patterns are ECMA-262 regular expressions, and editors run them as such:
    ``$`` is the end of the text. Node.js is the reference here (``RegExp`` with the ``u``
    flag); Python's ``re`` alone would read ``$`` as "end, or before a final newline"."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (.ci/run installs Debian's nodejs package)")
    patterns = schema_patterns(SCHEMA)
    script = (
        "const [patterns, probes] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const test = p => probes.map(s => new RegExp(p, 'u').test(s));"
        "console.log(JSON.stringify(patterns.map(test)));"
    )
    answer = subprocess.run(
        [node, "-e", script],
        input=json.dumps([patterns, PATTERN_PROBES]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    ecma = json.loads(answer.stdout)
    loader_reads = [[workflows_schema.matches(p, s) for s in PATTERN_PROBES] for p in patterns]
    plain_re = [[re.search(p, s) is not None for s in PATTERN_PROBES] for p in patterns]
    assert len(patterns) >= 8  # the id, stack, config key, URL and secret patterns at least
    assert loader_reads == ecma
    assert plain_re != ecma  # the probes do tell the two readings apart


def without_words(node: Any) -> Any:
    if isinstance(node, list):
        return [without_words(item) for item in node]
    if isinstance(node, dict):
        return {k: without_words(v) for k, v in node.items() if not k.startswith("x-")}
    return node


def test_the_wording_never_changes_what_is_validated() -> None:
    """The loader finds an error's words at the same schema path in the worded schema."""
    assert without_words(workflows_schema.inlined(SCHEMA, words=True)) == workflows_schema.inlined(
        SCHEMA
    )
    assert without_words(SCHEMA) != SCHEMA  # the committed schema does carry the words


@pytest.mark.parametrize(
    "path", sorted((FIXTURES / "invalid").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_placeholder_in_the_schemas_words_is_filled_in(path: Path) -> None:
    with pytest.raises(WorkflowsFileError) as caught:
        parse_workflows(path.read_text(), path.name)
    assert all("$" not in str(problem) for problem in caught.value.problems)


def test_a_rule_without_words_of_its_own_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stricter = json.loads(json.dumps(SCHEMA))
    stricter["$defs"]["workflow"]["properties"]["events"]["maxItems"] = 1
    monkeypatch.setattr(
        loader, "_VALIDATOR", workflows_schema.Validator(workflows_schema.inlined(stricter))
    )
    monkeypatch.setattr(loader, "_WORDED", workflows_schema.inlined(stricter, words=True))
    text = "version: 1\nworkflows:\n  - id: a\n    intercom_webhook_url: {config: aUrl}\n"
    with pytest.raises(WorkflowsFileError) as caught:
        parse_workflows(text + "    events: [jam.created, intercom.recorder.recorded]\n")
    (problem,) = caught.value.problems
    assert problem.message == "'events' breaks the schema's 'maxItems' rule."
    assert (problem.line, problem.workflow_id) == (5, "a")


def test_a_message_changed_in_the_schema_changes_what_the_loader_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The words live beside the rule: the loader has no copy of its own."""
    reworded = json.loads(json.dumps(SCHEMA))
    reworded["$defs"]["workflow"]["properties"]["events"]["x-errors"]["minItems"] = [
        "'$name' needs at least one event.",
        "Add one.",
    ]
    monkeypatch.setattr(loader, "_WORDED", workflows_schema.inlined(reworded, words=True))
    text = "version: 1\nworkflows:\n  - id: a\n    intercom_webhook_url: {config: aUrl}\n"
    with pytest.raises(WorkflowsFileError) as caught:
        parse_workflows(text + "    events: []\n")
    assert [(p.message, p.fix) for p in caught.value.problems] == [
        ("'events' needs at least one event.", "Add one.")
    ]

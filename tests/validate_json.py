#!/usr/bin/env python3
"""Validate sendcheck JSON output against its JSON Schema (schema/).

usage: validate_json.py SCHEMA_DIR TOOL [FILE]

Reads FILE (default: standard input): one JSON document, or JSON Lines (one
document a line, as sendcheck-listen and preflight --batch print). Each is
validated against SCHEMA_DIR/TOOL.schema.json (draft 2020-12), whose $refs
to the sibling files (sendcheck-envelope.schema.json) resolve in SCHEMA_DIR.
Exit 0 when every document is valid, 1 with every error on stderr when one
is not, 2 for bad usage, 4 when python3-jsonschema is missing.
Works with python3-jsonschema 4.10 (Debian 12) and later releases.
"""
import json
import pathlib
import sys

try:
    import jsonschema
except ImportError:
    print("validate_json: python3-jsonschema is not installed (scripts/install-deps --test)", file=sys.stderr)
    sys.exit(4)


def load_validator(schema_dir, tool):
    schemas = {}
    for path in sorted(schema_dir.glob("*.schema.json")):
        uri = path.resolve().as_uri()
        schema = json.loads(path.read_text(encoding="utf-8"))
        # The files carry no $id: each is known by where it lies, so a
        # relative $ref names the file beside it, as for any validator
        # given the file's path.
        schema.setdefault("$id", uri)
        schemas[uri] = schema
    main_uri = (schema_dir / (tool + ".schema.json")).resolve().as_uri()
    if main_uri not in schemas:
        print("validate_json: no schema " + tool + ".schema.json in " + str(schema_dir), file=sys.stderr)
        sys.exit(2)
    schema = schemas[main_uri]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    try:  # jsonschema >= 4.18: the referencing library
        import referencing
        import referencing.jsonschema
        registry = referencing.Registry().with_resources(
            (uri, referencing.Resource.from_contents(contents, default_specification=referencing.jsonschema.DRAFT202012))
            for uri, contents in schemas.items())
        return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
    except ImportError:  # jsonschema 4.10 (Debian 12): RefResolver with a store
        resolver = jsonschema.RefResolver(base_uri=main_uri, referrer=schema, store=schemas)
        return cls(schema, resolver=resolver, format_checker=cls.FORMAT_CHECKER)


def documents(text):
    text = text.strip()
    if not text:
        return []
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    validator = load_validator(pathlib.Path(argv[1]), argv[2])
    text = open(argv[3], encoding="utf-8").read() if len(argv) == 4 else sys.stdin.read()
    try:
        docs = documents(text)
    except json.JSONDecodeError as error:
        print("validate_json: not JSON: " + str(error), file=sys.stderr)
        return 1
    if not docs:
        print("validate_json: no JSON document in the input", file=sys.stderr)
        return 1
    failed = False
    for number, document in enumerate(docs, 1):
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(part) for part in error.absolute_path) or "(top)"
            print("document %d at %s: %s" % (number, where, error.message), file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

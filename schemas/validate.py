#!/usr/bin/python3
"""Validate meterflow JSON documents against the schemas in this directory.

  validate.py examples              every file in examples/ must pass, every file in invalid/
                                    must fail; the schema comes from the file name
                                    (<schema-name>.<n>.json -> <schema-name>.schema.json)
  validate.py records FILE.jsonl... every line of engine output (charges, adjustments, alerts,
                                    offline dead letters) must pass; the schema is chosen by the
                                    line's "record" member, or "reason" + "error" for a dead letter

Prints one line per file (per failing line for records) and a final "N passed, N failed" line;
exits 1 on any unexpected result, 2 on bad usage. Needs python3-jsonschema (>= 4.0, draft
2020-12). Formats are not checked: the schemas' patterns do that work.
"""

import json
import os
import re
import sys

import jsonschema
from jsonschema import Draft202012Validator

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = ["event", "catalog", "subscription", "charge", "adjustment", "dead-letter", "alert"]


def _ecma_pattern(validator, pattern, instance, schema):
    """`pattern` as ECMA-262 reads it: Python's `$` also matches before a final newline, so
    "c-...\\n" would pass ^c-[0-9a-f]{32}$. A trailing unescaped `$` is read as `\\Z` here."""
    if not validator.is_type(instance, "string"):
        return
    py = pattern
    if py.endswith("$") and not py.endswith("\\$"):
        py = py[:-1] + "\\Z"
    if not re.search(py, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = jsonschema.validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def load_validators():
    validators = {}
    for name in SCHEMAS:
        with open(os.path.join(HERE, f"{name}.schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
        validators[name] = Validator(schema)  # no format_checker: formats are annotations
    return validators


def first_error(validator, instance):
    """The most relevant error message with its JSON path, or None when the instance is valid."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{path or '.'}: {error.message}"


def schema_of_file(filename):
    m = re.fullmatch(r"(.+)\.[0-9]+\.json", filename)
    return m.group(1) if m else None


def load_json(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def check_examples(validators):
    passed = failed = 0
    covered = set()
    for subdir, must_pass in (("examples", True), ("invalid", False)):
        directory = os.path.join(HERE, subdir)
        for filename in sorted(os.listdir(directory)):
            rel = f"{subdir}/{filename}"
            name = schema_of_file(filename)
            if name not in validators:
                print(f"FAIL {rel}: no schema for this name (want <schema-name>.<n>.json)")
                failed += 1
                continue
            try:
                error = first_error(validators[name], load_json(os.path.join(directory, filename)))
            except (ValueError, UnicodeDecodeError) as e:
                print(f"FAIL {rel}: not JSON: {e}")
                failed += 1
                continue
            if must_pass and error is None:
                print(f"ok   {rel}")
                covered.add(name)
                passed += 1
            elif must_pass:
                print(f"FAIL {rel}: {error}")
                failed += 1
            elif error is not None:
                print(f"ok   {rel} (rejected as expected: {error})")
                passed += 1
            else:
                print(f"FAIL {rel}: expected to be rejected by {name}.schema.json, but it is valid")
                failed += 1
    for name in SCHEMAS:
        if name not in covered:
            print(f"FAIL {name}.schema.json: no valid example in examples/")
            failed += 1
    return passed, failed


def schema_of_record(record):
    if not isinstance(record, dict):
        return None
    if "record" in record:
        return record["record"] if record["record"] in ("charge", "adjustment", "alert") else None
    if "reason" in record and "error" in record:
        return "dead-letter"
    return None


def check_records(validators, paths):
    passed = failed = 0
    for path in paths:
        file_passed = file_failed = 0
        try:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
        except OSError as e:
            print(f"FAIL {path}: {e.strerror}")
            failed += 1
            continue
        if lines and lines[-1] == b"":
            lines.pop()  # the final newline ends the last line, it does not start another
        for number, raw in enumerate(lines, start=1):
            where = f"{path}:{number}"
            if not raw.strip():
                print(f"FAIL {where}: empty line")
                file_failed += 1
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                error = f"not a JSON line: {e}"
            else:
                name = schema_of_record(record)
                if name is None:
                    error = 'not a charge, adjustment, alert or dead letter (no known "record", no "reason" + "error")'
                else:
                    error = first_error(validators[name], record)
                    if error is not None:
                        error = f"{name}: {error}"
            if error is None:
                file_passed += 1
            else:
                print(f"FAIL {where}: {error}")
                file_failed += 1
        print(f"{'ok  ' if file_failed == 0 else 'FAIL'} {path}: {file_passed} valid lines, {file_failed} invalid")
        passed += file_passed
        failed += file_failed
    return passed, failed


def main(argv):
    if len(argv) == 2 and argv[1] == "examples":
        mode = "examples"
    elif len(argv) >= 3 and argv[1] == "records":
        mode = "records"
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    validators = load_validators()
    if mode == "examples":
        passed, failed = check_examples(validators)
    else:
        passed, failed = check_records(validators, argv[2:])
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

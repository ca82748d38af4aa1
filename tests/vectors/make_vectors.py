#!/usr/bin/env python3
"""Golden test vectors for the Avro codec, made by an independent Avro
implementation (fastavro, from PyPI), so tests/unit/test_codec.c can prove
that our framing and encoding are the standard ones.

For each schemas/*.avsc it writes tests/vectors/<Name>.json with the schema's
Parsing Canonical Form, its CRC-64-AVRO fingerprint (little-endian bytes, as
in the single-object header), a sample value, and the value's single-object
encoding (C3 01, fingerprint, Avro binary datum).

    python3 -m venv /tmp/fastavro && /tmp/fastavro/bin/pip install fastavro
    /tmp/fastavro/bin/python tests/vectors/make_vectors.py
"""
import glob
import io
import json
import os

from fastavro import parse_schema, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "schemas")


def sample(schema, name, depth=0):
    """A deterministic value that exercises each type (and UTF-8, big longs)."""
    if isinstance(schema, list):  # union: alternate null and the other branch
        other = [s for s in schema if s != "null"][0]
        return None if name == "causation_id" else sample(other, name, depth)
    if isinstance(schema, dict):
        t = schema["type"]
        if t == "record":
            return {f["name"]: sample(f["type"], f["name"], depth + 1) for f in schema["fields"]}
        if t == "array":
            return [sample(schema["items"], name, depth + 1) for _ in range(2)]
        return sample(t, name, depth)
    if schema == "string":
        if name == "event_id":
            return "0b8f9a3e-5c1d-4e2f-9a7b-3c6d5e4f1a2b"
        return f"{name}-caf\u00e9-\u2713"
    if schema == "long":
        return -1234567890123 if name == "occurred_at" else 9007199254740993
    if schema == "int":
        return 42 if name != "available" else -1
    if schema == "boolean":
        return True
    raise ValueError(f"no sample for {schema!r}")


def main():
    for path in sorted(glob.glob(os.path.join(SCHEMAS, "*.avsc"))):
        with open(path) as f:
            raw = json.load(f)
        pcf = to_parsing_canonical_form(raw)
        fp = fingerprint(pcf, "CRC-64-AVRO")
        value = sample(raw, raw["name"])
        buf = io.BytesIO()
        schemaless_writer(buf, parse_schema(raw), value)
        encoded = b"\xc3\x01" + bytes.fromhex(fp) + buf.getvalue()
        out = {
            "schema": raw["name"],
            "made_by": "fastavro",
            "canonical": pcf,
            "fingerprint": fp,
            "value": value,
            "encoded_hex": encoded.hex(),
        }
        with open(os.path.join(HERE, raw["name"] + ".json"), "w") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(raw["name"], fp, len(encoded), "bytes")


if __name__ == "__main__":
    main()

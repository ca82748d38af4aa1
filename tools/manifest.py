#!/usr/bin/env python3
"""Renders what is made from the services' manifest (deploy/services.conf).

  tools/manifest.py render     rewrite the generated parts
  tools/manifest.py --check    exit 1 when a generated part is not current
  tools/manifest.py groups     print the consumer groups (one per service)

Generated: the Prometheus targets (deploy/observability/prometheus.yml) and,
in compose.yaml, the daemons that have a database, the init job's
database passwords and the gateway's METRICS_TARGETS. The native stack (deploy/local), the topics tool (each
service's dlq.<name>), deploy/compose/init.sh and make-env.sh and
check-invariants read the manifest themselves. --check also compares the
Kafka rights (deploy/kafka-acls.conf) with the manifest and the schemas.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "deploy/services.conf")
COMPOSE = os.path.join(ROOT, "compose.yaml")
PROMETHEUS = os.path.join(ROOT, "deploy/observability/prometheus.yml")
ACLS = os.path.join(ROOT, "deploy/kafka-acls.conf")
SCHEMAS = os.path.join(ROOT, "schemas")

BEGIN = "# --- generated from deploy/services.conf by tools/manifest.py: {what}"
END = "# --- end of generated {what}"


def services():
    """The manifest's services, one per name (order#2 is the order service)."""
    out, seen = [], set()
    for line in open(MANIFEST):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        name = words[0].split("#")[0]
        if name in seen:
            continue
        seen.add(name)
        settings = [w.split("=", 1) for w in words[3:]]
        out.append({"name": name, "db": words[1], "port": int(words[2]), "settings": settings})
    return out


def prometheus(svcs):
    targets = "".join(f"          - {s['name']}:{s['port']}\n" for s in svcs)
    return ("# Prometheus for the compose stack's observability profile: every daemon's\n"
            "# /metrics on its admin port. Generated from deploy/services.conf by\n"
            "# tools/manifest.py: do not edit.\n"
            "global:\n"
            "  scrape_interval: 5s\n"
            "rule_files:\n"
            "  - /etc/prometheus/rules.yml\n"
            "scrape_configs:\n"
            "  - job_name: saga\n"
            "    static_configs:\n"
            "      - targets:\n" + targets)


def password_var(db):
    return f"{db.upper()}_DB_PASSWORD"


def compose_passwords(svcs):
    dbs = []
    for s in svcs:
        if s["db"] != "-" and s["db"] not in dbs:
            dbs.append(s["db"])
    return "".join(f"      {password_var(d)}: ${{{password_var(d)}:?run make compose-env}}\n"
                   for d in dbs)


def kafka_password_var(name):
    return f"KAFKA_PASSWORD_{name.upper()}"


def compose_kafka_passwords(svcs):
    return "".join(f"      {kafka_password_var(s['name'])}: "
                   f"${{{kafka_password_var(s['name'])}:?run make compose-env}}\n" for s in svcs)


def compose_daemons(svcs):
    out = []
    for s in svcs:
        if s["db"] == "-":
            continue  # the gateway's block is written by hand
        name, db, port = s["name"], s["db"], s["port"]
        out.append(f"  {name}:\n"
                   f"    <<: *daemon\n"
                   f"    command: [\"{name}\"]\n"
                   f"    environment:\n"
                   f"      <<: *daemon-env\n"
                   f"      DATABASE_URL: postgresql://{db}:${{{password_var(db)}}}@postgres:5432/{db}\n"
                   f"      KAFKA_SASL_USERNAME: {name}\n"
                   f"      KAFKA_SASL_PASSWORD: ${{{kafka_password_var(name)}}}\n"
                   f"      ADMIN_PORT: {port}\n" +
                   "".join(f"      {k}: {v}\n" for k, v in s["settings"]) +
                   f"    healthcheck:\n"
                   f"      <<: *daemon-health\n"
                   f"      test: [\"CMD\", \"probe\", \"http://localhost:{port}/readyz\"]\n")
    return "\n".join(out)


def compose_reader_urls(svcs):
    """The checker's read-only URL of each database it reads (the
    READER_<NAME>_DATABASE_URL settings of tools/check-invariants.c)."""
    read = set(re.findall(r'"(READER_[A-Z0-9_]+_DATABASE_URL)"',
                          open(os.path.join(ROOT, "tools/check-invariants.c")).read()))
    return "".join(f"      READER_{s['name'].upper()}_DATABASE_URL: "
                   f"postgresql://saga_reader:${{READER_DB_PASSWORD}}@postgres:5432/{s['db']}\n"
                   for s in svcs
                   if s["db"] != "-" and f"READER_{s['name'].upper()}_DATABASE_URL" in read)


def compose_metrics_targets(svcs):
    """The gateway's overview reads every daemon's metrics (one instance each in compose)."""
    targets = ",".join(f"{s['name']}={s['name']}:{s['port']}" for s in svcs)
    return f"      METRICS_TARGETS: {targets}\n"


def replace_block(text, what, indent, body):
    begin = indent + BEGIN.format(what=what) + "\n"
    end = indent + END.format(what=what) + "\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        sys.exit(f"manifest: compose.yaml has no block \"{what}\"")
    return pattern.sub(lambda _: begin + body + end, text, count=1)


def rendered():
    svcs = services()
    compose = open(COMPOSE).read()
    compose = replace_block(compose, "database passwords", "      ", compose_passwords(svcs))
    compose = replace_block(compose, "daemons with a database", "  ", compose_daemons(svcs))
    compose = replace_block(compose, "kafka passwords", "      ", compose_kafka_passwords(svcs))
    compose = replace_block(compose, "reader urls", "      ", compose_reader_urls(svcs))
    compose = replace_block(compose, "metrics targets", "      ", compose_metrics_targets(svcs))
    return {COMPOSE: compose, PROMETHEUS: prometheus(svcs)}


def acl_lines():
    """deploy/kafka-acls.conf: principal -> (writes, reads)."""
    out = {}
    for line in open(ACLS):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        lists = [set() if w == "-" else set(w.split(",")) for w in words[1:3]]
        out[words[0]] = tuple(lists)
    return out


def acl_problems(svcs):
    """What is wrong between the rights file, the manifest and the schemas."""
    import json
    acls, problems = acl_lines(), []
    topics = {line.split()[0] for line in open(os.path.join(ROOT, "deploy/topics.conf"))
              if line.split() and not line.startswith("#")}
    produced = {}
    for name in sorted(os.listdir(SCHEMAS)):
        if name.endswith(".avsc"):
            schema = json.load(open(os.path.join(SCHEMAS, name)))
            produced.setdefault(schema.get("x-producer"), set()).add(schema.get("x-topic"))
    for s in svcs:
        if s["name"] not in acls:
            problems.append(f"{s['name']} has no line in deploy/kafka-acls.conf")
    for principal, (writes, reads) in acls.items():
        if principal not in {s["name"] for s in svcs}:
            problems.append(f"deploy/kafka-acls.conf: {principal} is not a service")
        missing = produced.get(principal, set()) - writes
        if missing:
            problems.append(f"deploy/kafka-acls.conf: {principal} produces to "
                            f"{','.join(sorted(missing))} (its schemas' x-topic) "
                            "but may not write it")
        unknown = (writes | reads) - topics
        if unknown:
            problems.append(f"deploy/kafka-acls.conf: {principal} names topics that "
                            f"deploy/topics.conf does not: {','.join(sorted(unknown))}")
    return problems


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "render"
    if what == "groups":
        print(",".join(s["name"] for s in services()))
        return 0
    stale = [path for path, text in rendered().items() if open(path).read() != text]
    if what == "--check":
        for path in stale:
            print(f"FAIL {os.path.relpath(path, ROOT)} is not what deploy/services.conf makes"
                  " (run tools/manifest.py render)")
        problems = acl_problems(services())
        for p in problems:
            print(f"FAIL {p}")
        failed = len(stale) + (1 if problems else 0)
        print(f"manifest: {3 - failed} passed, {failed} failed")
        return 1 if failed else 0
    if what != "render":
        sys.exit(__doc__)
    for path, text in rendered().items():
        with open(path, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

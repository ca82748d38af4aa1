#!/usr/bin/env python3
"""The dashboard and the alerting rules against the code: every metric a
Grafana panel (deploy/observability/grafana/dashboards/*.json) or a
Prometheus rule (deploy/observability/rules.yml) queries is one that some
daemon exposes on /metrics, as scraped by a running Prometheus whose
targets must all be up and whose rules must all load. Grafana itself does
not run here, so its wiring is checked against compose.yaml: the
provisioned datasource is compose's Prometheus, every panel uses a
provisioned datasource, and the dashboards are where the provider looks.

Usage: PROMETHEUS_URL=http://127.0.0.1:29090 dashboard.py
Prints one line per check and "compose-dashboard: N passed, N failed".
"""
import glob
import json
import os
import re
import time
import urllib.request

import yaml

from report import check, summary

URL = os.environ["PROMETHEUS_URL"].rstrip("/")
# OBSERVABILITY_DIR: another copy of deploy/observability (to plant a metric no daemon has).
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
OBS = os.environ.get("OBSERVABILITY_DIR") or os.path.join(ROOT, "deploy/observability")
# PromQL's words that are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan"}



def api(path):
    with urllib.request.urlopen(URL + path, timeout=10) as r:
        return json.load(r)["data"]


def metric_names(expr):
    """The metric names an expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)             # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)                         # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                        # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = m.group(0)
        rest = expr[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue  # a function or an aggregation, or a keyword
        if re.fullmatch(r"\d+[smhdwy]?", word):
            continue
        names.add(word)
    return names


def queried():
    """{metric: [where it is queried]} for the dashboards and the rules."""
    out = {}
    for path in sorted(glob.glob(os.path.join(OBS, "grafana/dashboards/*.json"))):
        for panel in json.load(open(path)).get("panels", []):
            for target in panel.get("targets", []):
                for name in metric_names(target.get("expr", "")):
                    out.setdefault(name, []).append(f"panel \"{panel.get('title')}\"")
    rules = yaml.safe_load(open(os.path.join(OBS, "rules.yml")))
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in metric_names(rule["expr"]):
                out.setdefault(name, []).append(f"rule {rule.get('alert') or rule.get('record')}")
    return out


def grafana_wiring():
    """Grafana's provisioning against compose.yaml and the dashboards."""
    prov = os.path.join(OBS, "grafana/provisioning")
    sources = [d for f in sorted(glob.glob(os.path.join(prov, "datasources/*.yml")))
               for d in yaml.safe_load(open(f)).get("datasources", [])]
    compose = yaml.safe_load(open(os.path.join(ROOT, "compose.yaml")))["services"]
    check(any(d.get("type") == "prometheus" and d.get("url") == "http://prometheus:9090" for d in sources)
          and "prometheus" in compose,
          "Grafana's datasource is compose's Prometheus (http://prometheus:9090)")
    uids = {d.get("uid") for d in sources}
    for path in sorted(glob.glob(os.path.join(OBS, "grafana/dashboards/*.json"))):
        for panel in json.load(open(path)).get("panels", []):
            uid = (panel.get("datasource") or {}).get("uid")
            check(uid in uids, f"panel \"{panel.get('title')}\" uses a provisioned datasource ({uid})")
    mounts = [v.split(":")[1] for v in compose.get("grafana", {}).get("volumes", [])]
    paths = [p.get("options", {}).get("path")
             for f in sorted(glob.glob(os.path.join(prov, "dashboards/*.yml")))
             for p in yaml.safe_load(open(f)).get("providers", [])]
    check(paths and all(p in mounts for p in paths),
          f"the dashboards provider reads {paths}, where compose.yaml mounts them")


def main():
    grafana_wiring()
    # Every target up: the daemons answer /metrics where prometheus.yml says.
    deadline = time.time() + 60
    targets = []
    while time.time() < deadline:
        targets = api("/api/v1/targets")["activeTargets"]
        if targets and all(t["health"] == "up" for t in targets):
            break
        time.sleep(2)
    down = [f"{t['labels'].get('instance')}: {t.get('lastError')}" for t in targets if t["health"] != "up"]
    check(targets and not down, f"all {len(targets)} Prometheus targets are up" + (f"; down: {down}" if down else ""))

    groups = api("/api/v1/rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    bad = [r["name"] for r in rules if r.get("health") not in ("ok", "unknown")]
    check(len(rules) > 0 and not bad, f"Prometheus loaded {len(rules)} rules" + (f"; unhealthy: {bad}" if bad else ""))

    # A scrape or two after the saga's orders, every series has been seen.
    exposed = set(api("/api/v1/label/__name__/values"))
    wanted = queried()
    check(len(wanted) > 0, f"the dashboards and rules query {len(wanted)} metrics")
    for name, where in sorted(wanted.items()):
        check(name in exposed, f"{name} ({', '.join(sorted(set(where)))}) is scraped")
    return summary("compose-dashboard")


if __name__ == "__main__":
    raise SystemExit(main())

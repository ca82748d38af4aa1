#!/usr/bin/env python3
"""Checks compose.yaml against the code: docker-compose accepts it, every
daemon of services/ runs in it, every command is a program the image builds,
every environment variable is one the program reads, and every admin port is
the daemon's own default (the one Prometheus scrapes).

Usage: check.py  (from the repository root; needs docker-compose and PyYAML).
Prints one line per check and "compose-check: N passed, N failed".
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tools"))
import manifest  # noqa: E402  (tools/manifest.py: the one reader of deploy/services.conf)
from report import check, summary  # noqa: E402  (tests/compose/report.py)



def config():
    """docker-compose's own view of compose.yaml, with the values make-env.sh
    writes (every variable compose.yaml requires), in a throwaway file."""
    tmp = tempfile.mkdtemp()
    env_file = os.path.join(tmp, "env")
    made = subprocess.run(["sh", "deploy/compose/make-env.sh"], capture_output=True, text=True,
                          env=dict(os.environ, ENV_FILE=env_file,
                                   LOADTEST_REPORT_DIR=os.path.join(tmp, "report")))
    check(made.returncode == 0, "make-env.sh writes an env file" +
          ("" if made.returncode == 0 else ": " + made.stderr.strip()))
    try:
        out = subprocess.run(["docker-compose", "--env-file", env_file, "-f", "compose.yaml",
                              "--profile", "observability", "--profile", "loadtest", "--profile", "tools",
                              "config"],
                             capture_output=True, text=True)
    finally:
        shutil.rmtree(tmp)
    check(out.returncode == 0, "docker-compose config accepts compose.yaml" +
          ("" if out.returncode == 0 else ": " + out.stderr.strip()))
    return yaml.safe_load(out.stdout) if out.returncode == 0 else None


def sources_of(program):
    """The C files whose configuration tables a program reads."""
    if program in ("loadgen",):
        files = ["tests/load/loadgen.c"]
    elif os.path.isdir(f"services/{program}"):
        files = glob.glob(f"services/{program}/*.c")
    else:
        files = glob.glob(f"tools/{program}.c")
    # (the schema registry's settings: the daemons' table, and loadgen's
    # registry_from_env)
    return files + ["common/kafka.h", "common/daemon.h", "common/registry.h"]


def declared(files):
    names = set()
    for f in files:
        names.update(re.findall(r'CONFIG_\w+\(\s*"([A-Z0-9_]+)"', open(f).read()))
    return names


def main():
    cfg = config()
    if cfg is None:
        return
    services = cfg.get("services", {})
    daemons = sorted(d for d in os.listdir("services") if d != "template")
    for d in daemons:
        s = services.get(d)
        check(s is not None and s.get("command") == [d], f"daemon {d} runs in compose as `{d}`")
    init_vars = set(re.findall(r"\$\{?([A-Z_]+)", open("deploy/compose/init.sh").read()))
    # init.sh reads each database's password as <DATABASE>_DB_PASSWORD.
    svcs = manifest.services()  # one per name: compose runs one instance of each
    init_vars |= {manifest.password_var(m["db"]) for m in svcs if m["db"] != "-"}
    for m in svcs:
        name = m["name"]
        check(name in services, f"{name} (deploy/services.conf) runs in compose")
        env = services.get(name, {}).get("environment", {})
        check(str(env.get("ADMIN_PORT")) == str(m["port"]),
              f"{name}: ADMIN_PORT in compose is the manifest's {m['port']}")
    saga_image = services.get("init", {}).get("image")
    for name, s in sorted(services.items()):
        if s.get("image") != saga_image:
            continue
        program = s["command"][0]
        if program == "saga-init":
            known = init_vars | declared(sources_of("topics"))  # init.sh runs topics
        else:
            files = sources_of(program)
            own = files[:-2]  # without the two shared headers
            check(all(os.path.exists(f) for f in own) and own,
                  f"{name}: program {program} exists in the code")
            known = declared(files)
        for var in sorted(s.get("environment", {})):
            check(var in known, f"{name}: {var} is a setting of {program}")
        port = s.get("environment", {}).get("ADMIN_PORT")
        if port is not None and os.path.isdir(f"services/{program}"):
            main_c = open(f"services/{program}/main.c").read()
            m = re.search(r'DAEMON_CONFIG_VARS\([^,]+,\s*\w+,\s*"(\d+)"\)', main_c)
            check(m and m.group(1) == str(port),
                  f"{name}: ADMIN_PORT {port} is the daemon's default")
            prom = open("deploy/observability/prometheus.yml").read()
            check(f"{name}:{port}" in prom, f"{name}: Prometheus scrapes {name}:{port}")
    # Every service: a non-root user, and an image pinned to a version (the
    # project's own is built here); each long-running one a healthcheck and a
    # restart policy, each one-shot (init, check, loadtest) restart "no".
    for name, s in sorted(services.items()):
        user = str(s.get("user", ""))
        check(user not in ("", "root", "0") and not user.startswith("0:"),
              f"{name}: runs as a non-root user ({user or 'none set'})")
        image = s.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        check(image == saga_image or (re.search(r"\d", tag) and tag != "latest"),
              f"{name}: image {image} is pinned to a version")
        if s.get("restart") == "no":
            continue
        check(s.get("restart") == "unless-stopped", f"{name}: restart policy unless-stopped")
        check(bool(s.get("healthcheck", {}).get("test")), f"{name}: has a healthcheck")
    gw = services.get("gateway", {})
    # A port is {target: ...} or "[address:]published:target[/protocol]".
    published = [p.get("target") if isinstance(p, dict) else int(str(p).split("/")[0].split(":")[-1])
                 for p in gw.get("ports", [])]
    check(int(gw.get("environment", {}).get("GATEWAY_PORT", 0)) in published,
          "gateway: the published port is GATEWAY_PORT")


if __name__ == "__main__":
    main()
    sys.exit(summary("compose-check"))

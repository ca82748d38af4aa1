"""The compose checks' one way of reporting: a line per check ("ok   ..." or
"FAIL ...") and a summary line "NAME: N passed, N failed" that make test
adds up (tests/run.sh)."""

passed = failed = 0


def check(ok, what):
    """Reports one check; returns whether it held."""
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if ok:
        passed += 1
    else:
        failed += 1
    return bool(ok)


def summary(name):
    """Prints the summary line; returns the exit status (1 when any failed)."""
    print(f"{name}: {passed} passed, {failed} failed")
    return 1 if failed else 0

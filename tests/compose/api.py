#!/usr/bin/env python3
"""The HTTP API and every path of the saga, through a gateway's published
port (the compose stack's, in tests/compose/run.sh): the catalogue, each
path to its end state in the read model (completed, declined, out of stock,
unknown product, undeliverable, a product on two lines), the history the
read model keeps, idempotency keys, and bad input answered with a problem
document that loses nothing.

Usage: GATEWAY_URL=http://127.0.0.1:28080 API_KEY=... api.py [one WHEN]
(one: only a single order followed to COMPLETED, its check named WHEN)
Prints one line per check and "compose-api: N passed, N failed".
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

from report import check, summary

URL = os.environ["GATEWAY_URL"].rstrip("/")
KEY = os.environ["API_KEY"]
RUN = uuid.uuid4().hex[:8]
TIMEOUT_S = 60



def call(method, path, body=None, headers=None, key=True):
    """(status, headers, parsed body or raw text)."""
    h = {"Authorization": f"Bearer {KEY}"} if key else {}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(URL + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, hdrs, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, dict(e.headers), e.read()
    except (OSError, urllib.error.URLError) as e:  # no whole answer: the outcome is unknown
        return -1, {}, str(e)
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode(errors="replace")


def order(customer, items, address="1 Compose Street"):
    return {"customer_id": customer, "currency": "EUR", "shipping_address": address,
            "items": [{"product_id": p, "quantity": q} for p, q in items]}


def place(body, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return call("POST", "/v1/orders", body, headers)


def wait_terminal(order_id):
    doc = {}
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        status, _, doc = call("GET", f"/v1/orders/{order_id}")
        if status == 200 and doc.get("status") in ("COMPLETED", "CANCELLED"):
            # The compensations and the last events may follow the status.
            time.sleep(1)
            return call("GET", f"/v1/orders/{order_id}")[2]
        time.sleep(0.3)
    return doc


def events(doc):
    return [e.get("event") for e in doc.get("history", [])]


def is_problem(status, hdrs, doc, code):
    ctype = {k.lower(): v for k, v in hdrs.items()}.get("content-type", "")
    return status == code and ctype.startswith("application/problem+json") and \
        isinstance(doc, dict) and doc.get("status") == code


def catalogue():
    status, _, doc = call("GET", "/v1/products")
    items = doc.get("items", []) if isinstance(doc, dict) else []
    check(status == 200 and len(items) > 0, f"GET /v1/products lists the catalogue ({status}, {len(items)} items)")
    status, _, doc = call("GET", "/v1/products/p-0001")
    check(status == 200 and isinstance(doc, dict) and doc.get("price_cents", 0) > 0,
          f"GET /v1/products/p-0001 has a price ({status} {doc})")
    status, hdrs, doc = call("GET", "/v1/products/p-none")
    check(is_problem(status, hdrs, doc, 404), f"an unknown product is a 404 problem ({status})")


def paths():
    cases = [
        ("completed", order(f"compose-{RUN}-ok", [("p-0001", 2)]), "COMPLETED",
         {"payment_status": "PAID", "inventory_status": "RESERVED", "shipment_status": "DELIVERED"},
         ["OrderRequested", "OrderCreated", "PaymentProcessed", "InventoryReserved", "OrderConfirmed",
          "ShipmentCreated", "ShipmentDispatched", "ShipmentDelivered", "OrderCompleted"]),
        ("declined", order(f"declined-compose-{RUN}", [("p-0002", 1)]), "CANCELLED",
         {"payment_status": "DECLINED"}, ["PaymentFailed", "OrderCancelled"]),
        ("out of stock", order(f"compose-{RUN}-stock", [("p-sold-out", 1)]), "CANCELLED",
         {"inventory_status": "INSUFFICIENT"}, ["InventoryInsufficient", "OrderCancelled"]),
        ("unknown product", order(f"compose-{RUN}-unknown", [("p-does-not-exist", 1)]), "CANCELLED",
         {"cancel_reason": "UNKNOWN_PRODUCT"}, ["OrderCancelled"]),
        ("undeliverable", order(f"compose-{RUN}-undeliverable", [("p-0003", 1)], "1 undeliverable Road"),
         "CANCELLED", {"cancel_reason": "SHIPPING_FAILED", "payment_status": "REFUNDED",
                       "inventory_status": "RELEASED"},
         ["ShipmentFailed", "OrderCancelled", "PaymentRefunded", "InventoryReleased"]),
        ("a product on two lines", order(f"compose-{RUN}-two", [("p-0004", 1), ("p-0004", 2)]),
         "COMPLETED", {"payment_status": "PAID"}, ["OrderCompleted"]),
    ]
    placed = []
    for name, body, *_ in cases:
        status, hdrs, doc = place(body)
        oid = doc.get("order_id") if isinstance(doc, dict) else None
        loc = {k.lower(): v for k, v in hdrs.items()}.get("location", "")
        check(status == 202 and oid and doc.get("status") == "PENDING" and loc == f"/v1/orders/{oid}",
              f"{name}: 202 with the order id and its Location ({status} {doc})")
        if oid:
            st, _, now = call("GET", f"/v1/orders/{oid}")
            check(st == 200 and now.get("status") in ("PENDING", "CONFIRMED", "COMPLETED", "CANCELLED"),
                  f"{name}: readable at once, never 404 ({st})")
        placed.append(oid)
    for (name, _, want, fields, want_events), oid in zip(cases, placed):
        if not oid:
            continue
        doc = wait_terminal(oid)
        seen = events(doc)
        check(doc.get("status") == want, f"{name}: ends {want} ({doc.get('status')})")
        wrong = {k: doc.get(k) for k, v in fields.items() if doc.get(k) != v}
        check(not wrong, f"{name}: read model shows {fields}" + (f", not {wrong}" if wrong else ""))
        missing = [e for e in want_events if e not in seen]
        stamped = all(isinstance(e.get("at"), int) and e["at"] > 0 for e in doc.get("history", []))
        check(not missing and stamped, f"{name}: history has {want_events} with timestamps"
              + (f"; missing {missing}" if missing else "") + ("" if stamped else "; an entry has no time"))
        if want == "COMPLETED":
            check(isinstance(doc.get("total_cents"), int) and doc["total_cents"] > 0,
                  f"{name}: the total comes from the catalogue ({doc.get('total_cents')})")


def idempotency():
    key = f"compose-{RUN}-key"
    body = order(f"compose-{RUN}-idem", [("p-0005", 1)])
    s1, _, d1 = place(body, key)
    s2, _, d2 = place(body, key)
    check(s1 == 202 and s2 == 202 and d1.get("order_id") == d2.get("order_id"),
          f"the same key and body give the same order ({s1} {s2})")
    other = order(f"compose-{RUN}-idem", [("p-0005", 3)])
    s3, h3, d3 = place(other, key)
    check(is_problem(s3, h3, d3, 409), f"the same key with another body is a 409 problem ({s3})")


def bad_input():
    status, hdrs, doc = call("POST", "/v1/orders", order(f"compose-{RUN}-nokey", [("p-0001", 1)]), key=False)
    check(is_problem(status, hdrs, doc, 401), f"no API key: 401 ({status})")
    status, hdrs, doc = call("POST", "/v1/orders", b'{"customer_id": "x", "items": [')
    check(is_problem(status, hdrs, doc, 400), f"malformed JSON: 400 ({status})")
    status, hdrs, doc = place(order(f"compose-{RUN}-zero", [("p-0001", 0)]))
    check(is_problem(status, hdrs, doc, 400) and "quantity" in json.dumps(doc),
          f"quantity 0: 400 naming the field ({status} {doc})")
    status, hdrs, doc = call("POST", "/v1/orders", b"customer=x", {"Content-Type": "text/plain"})
    check(is_problem(status, hdrs, doc, 415), f"not JSON: 415 ({status})")
    big = order(f"compose-{RUN}-big", [("p-0001", 1)])
    big["shipping_address"] = "x" * (128 << 10)
    status, hdrs, doc = place(big)
    check(status == 413, f"a 128 KiB body (over MAX_BODY_BYTES): 413 ({status})")
    status, hdrs, doc = call("GET", f"/v1/orders/{uuid.uuid4()}")
    check(is_problem(status, hdrs, doc, 404), f"an order never placed: 404 ({status})")
    # Nothing of the refused requests became an order: the stack still takes one.
    completes("after the bad requests", "p-0006")


def completes(when, product):
    """One order placed and followed to COMPLETED."""
    status, _, doc = place(order(f"compose-{RUN}-{product}", [(product, 1)]))
    oid = doc.get("order_id") if isinstance(doc, dict) else None
    end = wait_terminal(oid).get("status") if status == 202 and oid else None
    return check(end == "COMPLETED", f"{when} an order still completes ({end or status})")


def main(argv):
    if argv[1:2] == ["one"]:  # api.py one WHEN: a single order, e.g. after a crash
        completes(" ".join(argv[2:]) or "now", "p-0007")
        return summary("compose-api")
    catalogue()
    paths()
    idempotency()
    bad_input()
    return summary("compose-api")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

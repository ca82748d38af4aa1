"""A client written elsewhere: Confluent's Python client (confluent-kafka with
its SchemaRegistryClient, AvroSerializer and AvroDeserializer) against the
saga's topics and the schema registry, for tests/registry/run.sh.

    client.py mark FILE                  end offsets of every topic, into FILE
    client.py framing FILE confluent     every record since FILE is in the
                                         Confluent framing, its id resolves
                                         and it decodes
    client.py framing FILE mixed         both framings since FILE, each
                                         record decoded
    client.py interop N                  decodes the daemons' records and
                                         places N orders with AvroSerializer
    client.py dead                       records in the dead-letter topics
    client.py prepare FILE N             N orders serialized with a new schema id
    client.py send FILE                  ... produced (no registry needed)
    client.py await FILE S completed|not whether they complete within S seconds

Settings from the environment (.run/stack.env): KAFKA_BOOTSTRAP,
KAFKA_SASL_USERNAME/PASSWORD, SCHEMA_REGISTRY_URL/USER/PASSWORD. Prints one
line per finding and ends with "N passed, N failed".
"""

import json
import os
import sys
import time
import uuid
from collections import Counter

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Records planted by tests/e2e/06_poison.c (their keys), and their copies
# in the DLQs: undecodable bytes in neither framing, on purpose (left out),
# and events the daemons must refuse, such as an event_id that is no UUID
# (their framing and schema id are checked, not their content).
PLANTED = ("e2e-poison-garbage", "e2e-poison-large")
POISON = "e2e-poison-"

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {what}")
    else:
        failed += 1
        print(f"FAIL  {what}")


def kafka_conf():
    conf = {"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP"]}
    if os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") != "PLAINTEXT":
        conf.update({
            "security.protocol": os.environ["KAFKA_SECURITY_PROTOCOL"],
            "sasl.mechanism": os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            "sasl.username": os.environ["KAFKA_SASL_USERNAME"],
            "sasl.password": os.environ["KAFKA_SASL_PASSWORD"],
        })
    return conf


def registry():
    conf = {"url": os.environ["SCHEMA_REGISTRY_URL"]}
    if os.environ.get("SCHEMA_REGISTRY_USER"):
        conf["basic.auth.user.info"] = (
            f"{os.environ['SCHEMA_REGISTRY_USER']}:{os.environ['SCHEMA_REGISTRY_PASSWORD']}")
    return SchemaRegistryClient(conf)


def topics():
    md = AdminClient(kafka_conf()).list_topics(timeout=10)
    return {name: sorted(t.partitions) for name, t in md.topics.items()
            if not name.startswith("__")}


def end_offsets(consumer, parts):
    out = {}
    for tp in parts:
        _, high = consumer.get_watermark_offsets(tp, timeout=10)
        out[(tp.topic, tp.partition)] = high
    return out


def consumer():
    conf = kafka_conf()
    conf.update({"group.id": f"registry-test-{uuid.uuid4()}", "enable.auto.commit": False,
                 "auto.offset.reset": "earliest"})
    return Consumer(conf)


def mark(path):
    c = consumer()
    parts = [TopicPartition(t, p) for t, ps in topics().items() for p in ps]
    offsets = end_offsets(c, parts)
    c.close()
    with open(path, "w") as f:
        json.dump({f"{t}:{p}": o for (t, p), o in offsets.items()}, f)
    print(f"marked {len(offsets)} partitions")


def read_since(path):
    """Every record after the marks (partitions made since: from the start)."""
    with open(path) as f:
        marks = {tuple([k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1])]): v
                 for k, v in json.load(f).items()}
    c = consumer()
    parts = [TopicPartition(t, p) for t, ps in topics().items() for p in ps]
    ends = end_offsets(c, parts)
    todo = {}
    for tp in parts:
        start = marks.get((tp.topic, tp.partition), 0)
        if ends[(tp.topic, tp.partition)] > start:
            todo[(tp.topic, tp.partition)] = ends[(tp.topic, tp.partition)]
            tp.offset = start
    c.assign([tp for tp in parts if (tp.topic, tp.partition) in todo])
    deadline = time.time() + 120
    while todo and time.time() < deadline:
        for m in c.consume(500, timeout=1.0):
            if m.error():
                continue
            key = (m.topic(), m.partition())
            if key in todo and m.offset() + 1 >= todo[key]:
                del todo[key]
            yield m
    c.close()
    check(not todo, f"read every record since the marks ({len(todo)} partitions short)")


def framing_of(value):
    if value and len(value) >= 5 and value[0] == 0:
        return "confluent"
    if value and len(value) >= 10 and value[0] == 0xC3 and value[1] == 0x01:
        return "single-object"
    return "neither"


def framing(path, expect):
    reg = registry()
    deser = AvroDeserializer(reg)
    seen = Counter()
    bad = []
    ids = set()
    for m in read_since(path):
        key = (m.key() or b"").decode("utf-8", "replace")
        kind = framing_of(m.value())
        if key.startswith(PLANTED):
            seen["planted"] += 1
            continue
        seen[(m.topic().split(".")[0] if m.topic().startswith("dlq.") else m.topic(), kind)] += 1
        if kind == "confluent":
            sid = int.from_bytes(m.value()[1:5], "big")
            ids.add(sid)
            try:
                if key.startswith(POISON):
                    reg.get_schema(sid)  # the id resolves; the content is poison on purpose
                    continue
                rec = deser(m.value(), SerializationContext(m.topic(), MessageField.VALUE))
                if not rec.get("metadata", {}).get("event_id"):
                    raise ValueError("no metadata.event_id")
            except Exception as e:  # any failure to decode is a finding
                if not m.topic().startswith("dlq."):
                    bad.append(f"{m.topic()}[{m.partition()}]@{m.offset()}: {e}")
        elif expect == "confluent" or kind == "neither":
            if not m.topic().startswith("dlq.") or kind == "single-object":
                bad.append(f"{m.topic()}[{m.partition()}]@{m.offset()}: {kind}")
    for k, n in sorted(seen.items(), key=str):
        print(f"      {k}: {n}")
    total = sum(n for k, n in seen.items() if k != "planted")
    check(total > 0, f"records since the mark: {total} ({seen['planted']} planted poison left out)")
    check(not bad, f"every record is {'in the Confluent framing and ' if expect == 'confluent' else ''}"
          f"decoded ({len(bad)} not){': ' + '; '.join(bad[:5]) if bad else ''}")
    check(len(ids) > 0, f"schema ids seen: {sorted(ids)[:30]}")
    if expect == "mixed":
        for topic in ("order-requests", "order-events", "payment-events", "inventory-events",
                      "shipping-events", "notification-events"):
            both = seen[(topic, "confluent")] > 0 and seen[(topic, "single-object")] > 0
            check(both, f"{topic}: both framings ({seen[(topic, 'single-object')]} single-object, "
                  f"{seen[(topic, 'confluent')]} Confluent)")


def load_schema(name):
    with open(os.path.join(ROOT, "schemas", f"{name}.avsc")) as f:
        return json.load(f)


def interop(n):
    reg = registry()
    # The daemons' records, read with the deserializer alone (writer schema by id).
    c = consumer()
    deser = AvroDeserializer(reg)
    parts = [TopicPartition("order-events", p) for p in topics()["order-events"]]
    ends = end_offsets(c, parts)
    for tp in parts:
        tp.offset = max(0, ends[(tp.topic, tp.partition)] - 200)
    c.assign(parts)
    decoded = Counter()
    deadline = time.time() + 30
    while sum(decoded.values()) < 100 and time.time() < deadline:
        for m in c.consume(500, timeout=1.0):
            if m.error() or framing_of(m.value()) != "confluent":
                continue
            rec = deser(m.value(), SerializationContext(m.topic(), MessageField.VALUE))
            decoded[rec["metadata"]["producer"]] += 1
    c.close()
    check(sum(decoded.values()) > 0,
          f"decoded {sum(decoded.values())} records the daemons wrote to order-events "
          f"({dict(decoded)})")

    ends = end_offsets_of("order-events")
    orders = write_orders(reg, n, "OrderRequested, as registered by Confluent's Python client")
    completed(orders, ends, 90, n)


def end_offsets_of(topic):
    c = consumer()
    parts = [TopicPartition(topic, p) for p in topics()[topic]]
    ends = end_offsets(c, parts)
    c.close()
    return ends


def serialize_orders(reg, n, doc):
    """n OrderRequested records serialized with AvroSerializer and this
    client's own copy of the schema (other whitespace, its own doc),
    registered by the serializer: a new id the daemons have not met."""
    schema = load_schema("OrderRequested")
    schema["doc"] = doc
    ser = AvroSerializer(reg, json.dumps(schema, indent=1),
                         conf={"subject.name.strategy": topic_record_subject_name_strategy,
                               "auto.register.schemas": True})
    out = []
    for i in range(n):
        order_id = str(uuid.uuid4())
        ev = {"metadata": {"event_id": str(uuid.uuid4()), "correlation_id": order_id,
                           "causation_id": None, "occurred_at": int(time.time() * 1000),
                           "producer": "python-interop", "traceparent": None},
              "order_id": order_id, "customer_id": f"py-interop-{i}", "currency": "EUR",
              "shipping_address": "1 Interop Street",
              "items": [{"product_id": "p-0010", "quantity": 1}]}
        out.append((order_id, ser(ev, SerializationContext("order-requests", MessageField.VALUE))))
    return out


def produce(records):
    p = Producer(kafka_conf() | {"enable.idempotence": True})
    for order_id, value in records:
        p.produce("order-requests", key=order_id.encode(), value=value)
    return p.flush(30) == 0


def write_orders(reg, n, doc):
    records = serialize_orders(reg, n, doc)
    check(produce(records), f"produced {n} OrderRequested with AvroSerializer")
    value = records[-1][1]
    check(value[0] == 0, f"the serializer's framing: magic 0, schema id "
          f"{int.from_bytes(value[1:5], 'big')}")
    return [order_id for order_id, _ in records]


def completed(orders, ends, seconds, n, expect=True):
    """Whether each order's OrderCompleted reached order-events (by key and
    event-type header: no registry needed) within seconds."""
    c = consumer()
    c.assign([TopicPartition("order-events", p, o) for (_, p), o in ends.items()])
    todo = set(orders)
    deadline = time.time() + seconds
    while todo and time.time() < deadline:
        for m in c.consume(500, timeout=1.0):
            if m.error() or not m.key():
                continue
            if m.headers() and dict(m.headers()).get("event-type") == b"OrderCompleted":
                todo.discard(m.key().decode("utf-8", "replace"))
    c.close()
    if expect:
        check(not todo, f"the {n} orders this client wrote completed ({len(todo)} did not)")
    else:
        check(len(todo) == len(orders),
              f"none of the {n} orders completed within {seconds} s ({len(orders) - len(todo)} did)")


def prepare(path, n):
    """Serializes n orders (a schema id the daemons have not met) and keeps
    them, to be sent while the registry is down."""
    records = serialize_orders(registry(), n, f"OrderRequested, a copy {uuid.uuid4()}")
    sid = int.from_bytes(records[0][1][1:5], "big")
    with open(path, "w") as f:
        json.dump({"id": sid, "orders": [[o, v.hex()] for o, v in records],
                   "ends": {str(p): o for (_, p), o in end_offsets_of("order-events").items()}}, f)
    print(f"prepared {n} orders with the new schema id {sid}")


def load_prepared(path):
    with open(path) as f:
        d = json.load(f)
    records = [(o, bytes.fromhex(v)) for o, v in d["orders"]]
    ends = {("order-events", int(p)): o for p, o in d["ends"].items()}
    return d["id"], records, ends


def send(path):
    sid, records, _ = load_prepared(path)
    check(produce(records), f"sent {len(records)} orders with schema id {sid}, new to the daemons")


def await_orders(path, seconds, expect):
    _, records, ends = load_prepared(path)
    completed([o for o, _ in records], ends, seconds, len(records), expect)


def dead():
    c = consumer()
    parts = [TopicPartition(t, p) for t, ps in topics().items() if t.startswith("dlq.")
             for p in ps]
    counts = Counter()
    for tp in parts:
        low, high = c.get_watermark_offsets(tp, timeout=10)
        counts[tp.topic] += high - low
    c.close()
    print(" ".join(f"{t}={n}" for t, n in sorted(counts.items())))


def main(argv):
    args = argv[1:]
    if args[:1] == ["dead"]:
        dead()
        return 0
    if args[:1] == ["mark"] and len(args) == 2:
        mark(args[1])
        return 0
    if args[:1] == ["prepare"] and len(args) == 3:
        prepare(args[1], int(args[2]))
        return 0
    if args[:1] == ["framing"] and len(args) == 3 and args[2] in ("confluent", "mixed"):
        framing(args[1], args[2])
    elif args[:1] == ["interop"] and len(args) == 2:
        interop(int(args[1]))
    elif args[:1] == ["send"] and len(args) == 2:
        send(args[1])
    elif args[:1] == ["await"] and len(args) == 4 and args[3] in ("completed", "not"):
        await_orders(args[1], int(args[2]), args[3] == "completed")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1

if __name__ == "__main__":
    sys.exit(main(sys.argv))

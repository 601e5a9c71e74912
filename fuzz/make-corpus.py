#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (docs/fuzzing.md) into DIR/<target>/.

The seeds come from what the test suite already holds: the pgoutput messages
captured from Postgres (Tests/PostgresReplicationTests/*Fixtures.swift), the
YAML examples of docs/, checkpoint files as WalBridge writes them, and HTTP
requests. Run by scripts/fuzz.sh; nothing it writes is committed.
"""
import hashlib
import pathlib
import re
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def write(directory, data):
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def fixtures(name):
    text = (ROOT / "Tests/PostgresReplicationTests" / name).read_text()
    # One `enum` per captured session; each keeps its messages in order.
    sessions, current = [], None
    for line in text.splitlines():
        if re.match(r"^enum \w+", line):
            current = []
            sessions.append(current)
        match = re.search(r'static let \w+ = "([0-9a-f]+)"', line)
        if match and current is not None:
            current.append(bytes.fromhex(match.group(1)))
    return [session for session in sessions if session]


def framed(messages, options, xlogdata):
    out = bytearray([options])
    for lsn, message in enumerate(messages):
        if xlogdata:
            message = b"w" + struct.pack(">QQq", 0x1000 + lsn, 0x2000 + lsn, 0) + message
        out += struct.pack(">H", len(message)) + message
    return bytes(out)


def pgoutput(directory):
    sessions = fixtures("RealStreamFixtures.swift") + fixtures("ProtocolFixtures.swift")
    for session in sessions:
        for options in (0x00, 0x01, 0x02, 0x03, 0x07):
            write(directory, framed(session, options, False))
        write(directory, framed(session, 0x08, True))
        for message in session:
            write(directory, framed([message], 0x00, False))
            write(directory, framed([message], 0x03, False))


def values(directory):
    source = (ROOT / "fuzz/Targets/values/ValuesFuzz.swift").read_text()
    listed = source[source.index("let typeOIDs"):]
    listed = listed[listed.index("= [") + 3:listed.index("]\n")]
    oids = [item.strip().replace("_", "") for item in listed.split(",") if item.strip()]
    samples = {
        "16": ["t", "f"], "17": ["\\x00ff", "\\x", "\\001abc"], "18": ["a"], "20": ["-9223372036854775808", "42"],
        "21": ["-32768"], "23": ["2147483647", "-0"], "25": ["hello", ""], "26": ["4294967295"],
        "114": ['{"a": [1, 2.5e3, null]}'], "600": ["(1,2)"], "603": ["(1,2),(0,0)"], "650": ["10.0.0.0/8"],
        "700": ["NaN", "-Infinity", "1.5e-45"], "701": ["Infinity", "-0", "1.7976931348623157e+308"],
        "790": ["$1,000.00"], "829": ["08:00:2b:01:02:03"], "869": ["::1/128"], "1042": ["ab  "],
        "1082": ["2026-11-23", "infinity", "0001-01-01 BC", "294276-12-31"],
        "1083": ["05:12:00.123456", "24:00:00"], "1114": ["2026-11-23 05:12:00.123456", "-infinity"],
        "1184": ["2026-11-23 05:12:00.123456+00", "2026-11-23 05:12:00+05:30", "1900-01-01 00:00:00+00:09:21"],
        "1186": ["1 year 2 mons 3 days 04:05:06.789", "-178000000 years", "00:00:00"],
        "1266": ["05:12:00+02"], "1560": ["101"], "1562": ["1"], "1700": ["NaN", "-12345.678900", "1e5"],
        "2950": ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], "3802": ['{"k": "v"}'],
        "1000": ["{t,f,NULL}"], "1007": ["{1,2,3}", "{{1,2},{3,4}}", "[0:1]={1,2}", "{}"],
        "1009": ['{"a b","q\\"uote",NULL,"NULL"}', "{a,{b}}"], "1182": ["{2026-11-23,infinity}"],
        "1185": ['{"2026-11-23 05:12:00+00"}'], "1231": ["{1.5,NaN}"], "3807": ['{"{\\"a\\": 1}"}'],
        "domainOID": ["17"], "enumOID": ["happy"],
    }
    for index, oid in enumerate(oids):
        for text in samples.get(oid, ["x", "0", "{}"]):
            write(directory, bytes([index]) + text.encode())


def config(directory):
    for document in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", document.read_text(), re.S):
            write(directory, block)
    write(directory, "postgres:\n  url: postgres://walbridge:${PGPASSWORD}@127.0.0.1:54329/app\n"
                     "kafka:\n  bootstrap_servers: 127.0.0.1:9092\n"
                     "mappings:\n  - table: public.users\n    topic: users\n    key: [id]\n")


def checkpoint(directory):
    base = '{"version": 1, "systemId": "7312345678901234567", "slot": "walbridge", "lsn": "1/16B3748", ' \
           '"updatedAt": "2026-11-23T05:12:00Z", "slotFollowsCheckpoint": true'
    write(directory, base + "}\n")
    write(directory, base + ', "snapshot": {"completedInitial": ["public.users"], "lastFinishedJob": "j1", '
          '"job": {"id": "j2", "origin": "request", "startedAt": "2026-11-23T05:12:00Z", "where": "id > 3", '
          '"tables": [{"table": "public.users", "rowsDone": 10, "estimatedRows": 100, "done": false, '
          '"lastKey": ["42"]}]}}}\n')
    write(directory, base + ', "gap": {"checkpointLsn": "0/1", "slotLsn": "0/2", '
          '"detectedAt": "2026-11-23T05:12:00Z", "backfillJob": null}}\n')


def http(directory):
    for request in ["GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD /healthz HTTP/1.0\r\n\r\n",
                    "GET /readyz?verbose=1 HTTP/1.1\r\n\r\n", "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                    "GET / HTTP/2\r\n\r\n", "GET /metrics HTTP/1.1\r\n\0\r\n\r\n"]:
        write(directory, request)


TARGETS = {"pgoutput": pgoutput, "values": values, "config": config, "checkpoint": checkpoint, "http": http}

if __name__ == "__main__":
    out, names = pathlib.Path(sys.argv[1]), sys.argv[2:] or list(TARGETS)
    for name in names:
        TARGETS[name](out / name)

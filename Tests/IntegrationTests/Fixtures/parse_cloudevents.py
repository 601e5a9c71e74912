"""Parses Kafka records with the CloudEvents Python SDK (the `cloudevents` package).

Reads a JSON file: a list of {"mode": "binary"|"structured", "headers": {name: text},
"key": text|null, "value": text}. Prints one JSON object per record: the event's
attributes (as the SDK reads them) and its data.
Exits 3 when the SDK is not installed (the test skips with that reason).
"""
import json
import sys

try:
    from cloudevents.kafka import KafkaMessage, from_binary, from_structured
except ImportError as error:
    print(f"the cloudevents package is missing: {error}", file=sys.stderr)
    sys.exit(3)


def main(path):
    with open(path) as file:
        records = json.load(file)
    out = []
    for record in records:
        message = KafkaMessage(
            headers={name: value.encode() for name, value in record["headers"].items()},
            key=record["key"].encode() if record["key"] is not None else None,
            value=record["value"].encode(),
        )
        if record["mode"] == "binary":
            event = from_binary(message, data_unmarshaller=lambda data: json.loads(data))
        else:
            event = from_structured(message)
        attributes = {
            name: value.decode() if isinstance(value, bytes) else str(value)
            for name, value in event.get_attributes().items()
        }
        out.append({"attributes": attributes, "data": event.get_data()})
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])

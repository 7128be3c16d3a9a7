"""``python -m bench.mqtt_rates mqtt://HOST:PORT [--seconds S] [--beds N]``: what a running
gateway publishes, counted by a subscriber to ``icu/v1/#`` — messages and payload bytes
per second, per kind of topic and per bed. The figures of ``docs/scaling.md``.

Not part of ``make bench``: it needs a broker and a publishing gateway (the commands are in
``docs/scaling.md``). Payload bytes only; MQTT framing adds the topic (about 40 bytes) and
a few bytes of header to each message.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from gateway.config.load import parse_broker_url
from gateway.mqtt.client import Broker, BrokerLink, Credentials


def kind(topic: str) -> str:
    rest = topic.split("/")[5:]  # after icu/v1/<site>/<ward>/<gateway>
    if len(rest) >= 3 and rest[0] == "bed":
        return rest[2]  # num, wave, alarm
    return "/".join(rest)


async def count(url: str, seconds: float, warm_up_s: float) -> tuple[Counter[str], Counter[str]]:
    address = parse_broker_url(url)
    messages: Counter[str] = Counter()
    octets: Counter[str] = Counter()
    async with BrokerLink(
        Broker(address.host, address.port, address.tls), Credentials(), identifier="mqtt-rates"
    ) as link:
        await link.subscribe("icu/v1/#", qos=1)
        began = time.monotonic()
        try:
            async with asyncio.timeout(warm_up_s + seconds):
                async for topic, payload in link.messages():
                    if time.monotonic() - began < warm_up_s:
                        continue  # retained copies and the first birth are not the rate
                    messages[kind(topic)] += 1
                    octets[kind(topic)] += len(payload)
        except TimeoutError:
            pass
    return messages, octets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mqtt_rates")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warm-up", type=float, default=2.0)
    parser.add_argument("--beds", type=int, default=64)
    args = parser.parse_args(argv)
    messages, octets = asyncio.run(count(args.url, args.seconds, args.warm_up))
    s, beds = args.seconds, args.beds
    print(f"{'topic':<10} {'msg/s':>8} {'B/s':>10} {'msg/s/bed':>10} {'B/s/bed':>9}")
    for name in sorted(messages, key=lambda k: -octets[k]):
        m, b = messages[name] / s, octets[name] / s
        print(f"{name:<10} {m:8.1f} {b:10.0f} {m / beds:10.2f} {b / beds:9.0f}")
    m, b = sum(messages.values()) / s, sum(octets.values()) / s
    print(f"{'total':<10} {m:8.1f} {b:10.0f} {m / beds:10.2f} {b / beds:9.0f}")


if __name__ == "__main__":
    main()

"""``sentrial relay``: an OTLP/HTTP receiver that turns the spans of any OpenTelemetry pipeline
(another language's SDK, Mastra, a Collector) into Sentrial sessions, through the exporter's mapping
and delivery."""

from sentrial.relay.http import RelayServer
from sentrial.relay.receiver import Relay, RelayCounters

__all__ = ["Relay", "RelayCounters", "RelayServer"]

"""An OpenTelemetry span exporter for the Sentrial Sessions REST API.

Add it to any OpenTelemetry SDK setup::

    provider.add_span_processor(BatchSpanProcessor(SentrialSpanExporter(api_key="...")))
"""

from sentrial_otel_exporter.exporter import SentrialSpanExporter
from sentrial_otel_exporter.transport import DeliveryStats

__all__ = ["DeliveryStats", "SentrialSpanExporter"]

"""Copies of finished spans with some parts replaced: the live span itself is never touched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AttributeValue


def attributes_of(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes, to read only. An SDK span hands them out as a read-only proxy of a
    ``BoundedAttributes``, whose every lookup is a few Python calls (a miss raises inside): the plain
    dict inside is read instead when it is there (newer SDKs make a new proxy on each read), as the
    mapping reads a span's attributes dozens of times and the router reads every span's."""
    inner = getattr(span, "_attributes", None)
    inner = getattr(inner, "_dict", inner)
    if isinstance(inner, dict):  # an OrderedDict in older SDKs
        return inner
    return span.attributes or {}


def copy_span(
    span: ReadableSpan,
    *,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    events: Sequence[Event] | None = None,
    links: Sequence[Link] | None = None,
    status: Status | None = None,
    resource: Resource | None = None,
) -> ReadableSpan:
    """A ReadableSpan like ``span`` with another name, attributes, events, links, status or
    resource; dropped counts kept.

    ReadableSpan reports a dropped count only for bounded collections; where nothing was dropped,
    plain ones do (the attributes are already valid, and it hands them out read-only anyway).
    """
    attributes = dict(attributes_of(span)) if attributes is None else attributes
    events = span.events if events is None else events
    status = span.status if status is None else status
    copied_attributes: Any = attributes
    if span.dropped_attributes:
        copied_attributes = BoundedAttributes(maxlen=None, attributes=attributes, immutable=True)
        copied_attributes.dropped = span.dropped_attributes
    copied_events: Sequence[Event] = events
    if span.dropped_events:
        copied_events = BoundedList.from_seq(None, events)
        copied_events.dropped = span.dropped_events
    copied_links: Sequence[Link] = span.links if links is None else links
    if span.dropped_links:
        copied_links = BoundedList.from_seq(None, copied_links)
        copied_links.dropped = span.dropped_links
    return ReadableSpan(
        name=span.name if name is None else name,
        context=span.context,
        parent=span.parent,
        resource=span.resource if resource is None else resource,
        attributes=copied_attributes,
        events=copied_events,
        links=copied_links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )

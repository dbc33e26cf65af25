"""PII redaction before anything leaves the process: the server's settings, or your own."""

import sentrial
from sentrial import SentrialClient, configure
from sentrial.redact import PiiBuiltinPatterns, PiiConfig, PiiCustomPattern

# The organisation's settings, fetched from the server.
configure(api_key="sentrial_live_xxx", pii=True)
sentrial.begin(user_id="user_1", event="chat", input="Mail me at jane@example.com").finish(output="ok")

# Settings of your own.
client = SentrialClient(
    api_key="sentrial_live_xxx",
    pii=PiiConfig(
        enabled=True,
        mode="label",  # "label", "hash" or "remove"
        fields=["user_input", "assistant_output", "metadata", "reasoning"],
        builtin_patterns=PiiBuiltinPatterns(emails=True, phones=True, ssns=True, credit_cards=True),
        custom_patterns=[PiiCustomPattern(label="api_key", pattern=r"sk-[a-zA-Z0-9]{32,}")],
    ),
)
key = "sk-" + "a" * 40
client.begin(user_id="user_2", event="chat", input=f"My key is {key}, call 555-123-4567").finish(
    output="Never share keys."
)

client.shutdown()
sentrial.shutdown()

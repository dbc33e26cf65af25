"""Batching: tracked events are sent in batches, every flush_interval seconds or flush_threshold events."""

import sentrial
from sentrial import BatcherConfig, SentrialClient, configure

# The default client with batching on and its defaults...
configure(api_key="sentrial_live_xxx", batching=True)
sentrial.begin(user_id="user_1", event="batched_chat", input="hi").finish(output="hello")

# ...or a client of your own with batching tuned.
client = SentrialClient(
    api_key="sentrial_live_xxx",
    batching=BatcherConfig(
        enabled=True,
        flush_interval=2.0,  # seconds between batches (default 1.0)
        flush_threshold=20,  # or as soon as this many events wait (default 10)
        max_queue_size=500,  # past this many waiting events, new ones are dropped (default 1000)
    ),
)
interaction = client.begin(user_id="user_2", event="busy_agent", input="many steps")
for step in range(50):
    interaction.track_tool_call(tool_name="step", tool_input={"n": step}, tool_output={"ok": True})
interaction.finish(output="done")

# Send what is still queued before the process exits.
client.flush()
client.shutdown()
sentrial.shutdown()

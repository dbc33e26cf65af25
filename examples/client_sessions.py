"""Full control over a session with SentrialClient: open, record events, complete."""

from sentrial import SentrialClient

client = SentrialClient(api_key="sentrial_live_xxx")  # the URL comes from SENTRIAL_API_URL

session_id = client.create_session(
    name="Password reset",
    agent_name="support-agent",
    user_id="user_123",
    convo_id="conv_789",
    metadata={"channel": "email"},
)
client.track_tool_call(
    session_id=session_id,
    tool_name="lookup_account",
    tool_input={"email_domain": "example.com"},
    tool_output={"found": True},
    reasoning="Find the account first",
    token_count=42,
    metadata={"db": "accounts"},
)
client.track_decision(
    session_id=session_id,
    reasoning="The account exists: send a reset link",
    alternatives=["ask for another address"],
    confidence=0.8,
)
client.track_error(
    session_id=session_id,
    error_message="mail server busy, retried",
    error_type="TimeoutError",
    tool_name="send_email",
)
client.complete_session(
    session_id=session_id,
    success=True,
    custom_metrics={"retries": 1},
    prompt_tokens=120,
    completion_tokens=40,
    total_tokens=160,
    user_input="I forgot my password",
    assistant_output="A reset link is on its way.",
)

client.shutdown()

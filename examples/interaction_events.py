"""An interaction with tool calls and a decision, then a successful and a failed finish."""

import sentrial

sentrial.configure(api_key="sentrial_live_xxx")

interaction = sentrial.begin(
    user_id="user_12345",
    event="support_request",
    input="Help me reset my password",
    convo_id="conv_789",
    metadata={"channel": "web_chat"},
)
interaction.track_decision(
    reasoning="Search the knowledge base before handing over to a person",
    alternatives=["escalate_to_human", "ask_clarifying_question"],
    confidence=0.92,
)
interaction.track_tool_call(
    tool_name="search_knowledge_base",
    tool_input={"query": "password reset"},
    tool_output={"results": ["KB-001", "KB-002"]},
    reasoning="The user needs help with a password",
    estimated_cost=0.001,
)
interaction.finish(
    output="Password reset email sent!",
    success=True,
    estimated_cost=0.023,
    custom_metrics={"satisfaction": 4.5},
)

lost = sentrial.begin(user_id="user_67890", event="support_request", input="Reset the password of bob")
lost.finish(success=False, failure_reason="User not found in database")

sentrial.shutdown()

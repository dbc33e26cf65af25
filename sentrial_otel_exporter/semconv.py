"""Sentrial semantic conventions: every span name, span kind and attribute name the SDK and the
exporter use, and how ids are written.

No other module spells one of these strings. They live in the exporter package because both sides
read them and the exporter depends on nothing of ``sentrial``; ``sentrial.semconv`` is the same
module's names under the SDK's path. Where the OpenTelemetry GenAI conventions name something, that
name is used and no Sentrial one (any OTel backend then shows these spans properly, and each value
is on a span once); ``sentrial.*`` names are for what the conventions do not name.
"""

from __future__ import annotations

from typing import Final

# --- span kinds (value of SPAN_KIND) -------------------------------------------------------
KIND_SESSION: Final = "session"
KIND_TOOL_CALL: Final = "tool_call"
KIND_DECISION: Final = "decision"
KIND_ERROR: Final = "error"
KIND_STATE: Final = "state"
KIND_LLM: Final = "llm"
KIND_EXPERIMENT_RUN: Final = "experiment_run"

# The Sessions API's ``eventType`` of each kind of tracked event (what the SDK's calls return).
API_EVENT_TYPES: Final = {KIND_TOOL_CALL: "tool_call", KIND_DECISION: "llm_decision", KIND_ERROR: "error"}

# --- span names ---------------------------------------------------------------------------
SPAN_NAME_DECISION: Final = "plan"  # the conventions' name of a plan span whose agent is not named
SPAN_NAME_ERROR: Final = "sentrial.error"
SPAN_NAME_STATE: Final = "sentrial.state"


def session_span_name(agent_name: str) -> str:
    """The name of a session's span: ``invoke_agent {agent_name}``, as the GenAI conventions name it."""
    return f"invoke_agent {agent_name}"


def tool_call_span_name(tool_name: str) -> str:
    """The name of a tool call's span: ``execute_tool {tool_name}`` (an f-string: on every tool call,
    ``str.format`` costs five times as much)."""
    return f"execute_tool {tool_name}"


# --- ids as the Sessions API (and OTel) write them -------------------------------------------
def trace_hex(trace_id: int) -> str:
    """A trace id as 32 lowercase hex digits."""
    try:  # to_bytes().hex() costs half of an f-string's ``:032x``: this runs on every tracked event
        return trace_id.to_bytes(16, "big").hex()
    except OverflowError:  # not a valid id: written as it is rather than lost
        return f"{trace_id:032x}"


def span_hex(span_id: int) -> str:
    """A span id as 16 lowercase hex digits."""
    try:
        return span_id.to_bytes(8, "big").hex()
    except OverflowError:
        return f"{span_id:016x}"


# --- attributes on every Sentrial span -------------------------------------------------------
SPAN_KIND: Final = "sentrial.span.kind"
SESSION_ID: Final = "sentrial.session.id"
METADATA: Final = "sentrial.metadata"
# A state span (kind "state", no request of its own): keys that client.update_state() set (JSON),
# and whether they replace the whole state (client.current_state = {...}).
STATE_UPDATE: Final = "sentrial.state.update"
STATE_REPLACE: Final = "sentrial.state.replace"
COST_USD: Final = "sentrial.cost.usd"
TOKEN_COUNT: Final = "sentrial.token_count"

# --- session span ---------------------------------------------------------------------------
SESSION_NAME: Final = "sentrial.session.name"
SESSION_PARENT_ID: Final = "sentrial.session.parent_id"
# The id a session is sent under is the SDK's own; EXTERNAL marks a session span made only to
# complete a session that this process did not open (so no "open" request is sent for it).
SESSION_EXTERNAL: Final = "sentrial.session.external"
USER_ID: Final = "sentrial.user.id"
ANONYMOUS_USER: Final = "anonymous"  # the user id of a session begun for nobody in particular
EVENT_ID: Final = "sentrial.event_id"
SUCCESS: Final = "sentrial.success"
FAILURE_REASON: Final = "sentrial.failure_reason"
CUSTOM_METRICS: Final = "sentrial.custom_metrics"
DURATION_MS: Final = "sentrial.duration_ms"
PROMPT_TOKENS: Final = "sentrial.usage.prompt_tokens"
COMPLETION_TOKENS: Final = "sentrial.usage.completion_tokens"
TOTAL_TOKENS: Final = "sentrial.usage.total_tokens"

# --- experiment run span (and the sessions begun inside a run) ----------------------------------
EXPERIMENT_ID: Final = "sentrial.experiment.id"
EXPERIMENT_VARIANT: Final = "sentrial.experiment.variant"
EXPERIMENT_TEST_CASE: Final = "sentrial.experiment.test_case"  # the test case's (earlier) session id
EXPERIMENT_RUN_ID: Final = "sentrial.experiment.run_id"  # the SDK's id of the run
EXPERIMENT_RESULT_SESSION_ID: Final = "sentrial.experiment.result_session_id"


def experiment_run_span_name(variant_name: str) -> str:
    """The name of an experiment run's span: ``experiment_run {variant_name}``."""
    return f"experiment_run {variant_name}"


# --- tool call span -------------------------------------------------------------------------
TOOL_ERROR: Final = "sentrial.tool.error"
REASONING: Final = "sentrial.reasoning"
# trace_id / span_id that the caller passed explicitly to track_tool_call (distributed tracing).
LINKED_TRACE_ID: Final = "sentrial.trace_id"
LINKED_SPAN_ID: Final = "sentrial.span_id"

# --- decision span --------------------------------------------------------------------------
DECISION_REASONING: Final = "sentrial.decision.reasoning"
DECISION_ALTERNATIVES: Final = "sentrial.decision.alternatives"
DECISION_CONFIDENCE: Final = "sentrial.decision.confidence"

# --- error span -----------------------------------------------------------------------------
ERROR_MESSAGE: Final = "sentrial.error.message"
ERROR_TYPE: Final = "sentrial.error.type"
ERROR_TOOL_NAME: Final = "sentrial.error.tool_name"
ERROR_STACK_TRACE: Final = "sentrial.error.stack_trace"

# --- OpenTelemetry GenAI conventions ----------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # older spelling of the provider, still emitted by peers
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"  # JSON text on our spans
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"  # only when the tool succeeded
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
TOOL_TYPE_FUNCTION: Final = "function"  # a tool the app's own code runs

OPERATION_INVOKE_AGENT: Final = "invoke_agent"
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
OPERATION_PLAN: Final = "plan"  # an agent's decision (track_decision)
OPERATION_CHAT: Final = "chat"
# The conventions' fallback value of error.type, and of the provider of a session whose agent's
# provider is not known (the conventions require one on agent spans).
OTHER: Final = "_OTHER"

# --- values ---------------------------------------------------------------------------------
# Session spans that were still open when their client shut down end with this failure reason.
NOT_FINISHED_REASON: Final = "not finished before shutdown"

# --- content attributes of other instrumentations (redaction must cover them) ------------------
GEN_AI_EVENT_PREFIX: Final = (
    "gen_ai."  # event-based GenAI convention: gen_ai.user.message, gen_ai.choice, ...
)
LEGACY_PROMPT_PREFIX: Final = "gen_ai.prompt."  # Traceloop / older OTel: gen_ai.prompt.0.content
LEGACY_COMPLETION_PREFIX: Final = "gen_ai.completion."
OPENINFERENCE_INPUT_VALUE: Final = "input.value"
OPENINFERENCE_OUTPUT_VALUE: Final = "output.value"
OPENINFERENCE_INPUT_MESSAGES_PREFIX: Final = "llm.input_messages."
OPENINFERENCE_OUTPUT_MESSAGES_PREFIX: Final = "llm.output_messages."
OPENINFERENCE_TOOL_PARAMETERS: Final = "tool.parameters"
OPENINFERENCE_METADATA: Final = "metadata"
TRACELOOP_ENTITY_INPUT: Final = "traceloop.entity.input"
TRACELOOP_ENTITY_OUTPUT: Final = "traceloop.entity.output"
OPENINFERENCE_USER_ID: Final = "user.id"
OPENINFERENCE_SESSION_ID: Final = "session.id"
TRACELOOP_ASSOCIATION_PREFIX: Final = "traceloop.association.properties."  # user_id, session_id, ...

# --- instrumentation scopes and metrics ------------------------------------------------------------
# The semantic conventions version whose GenAI names the spans and metrics follow (the scope's schema URL).
GEN_AI_SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"  # "input" or "output" on gen_ai.client.token.usage
COST_METRIC: Final = "sentrial.gen_ai.client.cost"  # what LLM calls cost, in USD

# --- resource ------------------------------------------------------------------------------------
SERVICE_NAME: Final = "service.name"

# --- the standard exception event -----------------------------------------------------------------
EXCEPTION_EVENT: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"

# --- LLM spans ------------------------------------------------------------------------------------
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
ERROR_TYPE_ATTRIBUTE: Final = "error.type"  # the OTel general attribute on failed operations
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
OPENAI_API_TYPE: Final = "openai.api.type"  # which OpenAI API: "chat_completions" or "responses"
OPENAI_API_TYPE_CHAT_COMPLETIONS: Final = "chat_completions"
OPENAI_API_TYPE_RESPONSES: Final = "responses"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"  # as the call asked ("auto", "flex")
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"
LLM_ABANDONED_MESSAGE: Final = "stream abandoned: garbage-collected before it was finished or closed"

OPERATION_TEXT_COMPLETION: Final = "text_completion"
OPERATION_EMBEDDINGS: Final = "embeddings"
OPERATION_GENERATE_CONTENT: Final = "generate_content"
# The gen_ai.operation.name values of an LLM call (agent and tool operations are not).
LLM_OPERATIONS: Final = frozenset(
    {OPERATION_CHAT, OPERATION_TEXT_COMPLETION, OPERATION_GENERATE_CONTENT, OPERATION_EMBEDDINGS}
)

# gen_ai.provider.name values, and the short names Sentrial's tool names use (llm:{provider}:{model}).
PROVIDER_OPENAI: Final = "openai"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_GEMINI: Final = "gcp.gemini"
PROVIDER_VERTEX_AI: Final = "gcp.vertex_ai"
PROVIDER_GEN_AI: Final = "gcp.gen_ai"
SHORT_PROVIDER_NAMES: Final = {
    PROVIDER_OPENAI: "openai",
    PROVIDER_AZURE_OPENAI: "openai",
    PROVIDER_ANTHROPIC: "anthropic",
    PROVIDER_GEMINI: "google",
    PROVIDER_VERTEX_AI: "google",
    PROVIDER_GEN_AI: "google",
    "gemini": "google",
    "vertex_ai": "google",
    "aws.bedrock": "bedrock",
}

# --- other GenAI instrumentations (their spans are mapped like ours) --------------------------------
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
OPENINFERENCE_LLM_KINDS: Final = ("LLM", "EMBEDDING")
OPENINFERENCE_MODEL_NAME: Final = "llm.model_name"
OPENINFERENCE_PROVIDER: Final = "llm.provider"
OPENINFERENCE_SYSTEM: Final = "llm.system"
OPENINFERENCE_PROMPT_TOKENS: Final = "llm.token_count.prompt"
OPENINFERENCE_COMPLETION_TOKENS: Final = "llm.token_count.completion"
OPENINFERENCE_MESSAGE_ROLE: Final = "message.role"  # after llm.input_messages.{i}.
OPENINFERENCE_MESSAGE_CONTENT: Final = "message.content"
LEGACY_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"  # Traceloop and older OTel GenAI
LEGACY_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
LEGACY_MESSAGE_ROLE: Final = "role"  # after gen_ai.prompt.{i}. / gen_ai.completion.{i}.
LEGACY_MESSAGE_CONTENT: Final = "content"

"""The cost helpers: list prices per model, in USD."""

from sentrial import SentrialClient
from sentrial.pricing import calculate_cost

print("gpt-4o:", SentrialClient.calculate_openai_cost(model="gpt-4o", input_tokens=1000, output_tokens=500))
print(
    "claude-sonnet-4:",
    SentrialClient.calculate_anthropic_cost(model="claude-sonnet-4", input_tokens=1000, output_tokens=500),
)
print(
    "gemini-2.0-flash:",
    SentrialClient.calculate_google_cost(model="gemini-2.0-flash", input_tokens=1000, output_tokens=500),
)
print("by model name alone:", calculate_cost("gpt-4o-mini", prompt_tokens=1000, completion_tokens=500))

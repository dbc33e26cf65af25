// A Mastra agent with one tool. Its traces go over OTLP to `sentrial relay` (SENTRIAL_OTLP_URL,
// default http://127.0.0.1:4318), which turns each run into a Sentrial session.
// The model is any OpenAI-compatible endpoint: OPENAI_BASE_URL and OPENAI_API_KEY.
import { createOpenAI } from "@ai-sdk/openai";
import { Agent } from "@mastra/core/agent";
import { Mastra } from "@mastra/core/mastra";
import { createTool } from "@mastra/core/tools";
import { Observability } from "@mastra/observability";
import { OtelExporter } from "@mastra/otel-exporter";
import { z } from "zod";

const relay = process.env.SENTRIAL_OTLP_URL ?? "http://127.0.0.1:4318";
const openai = createOpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY });

const getWeather = createTool({
  id: "get_weather",
  description: "The weather in a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, sky: "sunny", celsius: 21 }),
});

const weatherAgent = new Agent({
  id: "weather-agent",
  name: "weather-agent",
  instructions: "Answer questions about the weather; use get_weather.",
  model: openai.chat("gpt-4o-mini"),
  tools: { getWeather },
});

// The one line of setup: Mastra's OpenTelemetry exporter, pointed at the relay.
const exporter = new OtelExporter({ provider: { custom: { endpoint: `${relay}/v1/traces`, protocol: "http/protobuf" } } });

const mastra = new Mastra({
  agents: { weatherAgent },
  observability: new Observability({ configs: { otel: { serviceName: "weather-agent", exporters: [exporter] } } }),
});

const result = await mastra.getAgent("weatherAgent").generate("What is the weather in Oslo?");
console.log(JSON.stringify({ text: result.text }));
await mastra.shutdown?.();
await exporter.shutdown();

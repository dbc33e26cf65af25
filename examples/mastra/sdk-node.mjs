// No framework: the OpenTelemetry Node SDK with its OTLP/HTTP (JSON) exporter, and spans with the
// GenAI conventions' attributes written by hand, as any instrumentation of any language writes them.
import { trace, SpanStatusCode } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { NodeSDK } from "@opentelemetry/sdk-node";

const relay = process.env.SENTRIAL_OTLP_URL ?? "http://127.0.0.1:4318";
const sdk = new NodeSDK({
  serviceName: "node-agent",
  traceExporter: new OTLPTraceExporter({ url: `${relay}/v1/traces` }),
});
sdk.start();

const tracer = trace.getTracer("node-agent");
const traceId = await tracer.startActiveSpan("invoke_agent node-agent", { attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "node-agent" } }, async (root) => {
  tracer.startActiveSpan("chat gpt-4o", (llm) => {
    llm.setAttributes({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.usage.input_tokens": 1000,
      "gen_ai.usage.output_tokens": 500,
      "gen_ai.input.messages": JSON.stringify([{ role: "user", parts: [{ type: "text", content: "Plan my day" }] }]),
      "gen_ai.output.messages": JSON.stringify([{ role: "assistant", parts: [{ type: "text", content: "Walk, then read." }] }]),
    });
    llm.end();
  });
  tracer.startActiveSpan("execute_tool calendar", (tool) => {
    tool.setAttributes({
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "calendar",
      "gen_ai.tool.call.arguments": JSON.stringify({ day: "today" }),
      "gen_ai.tool.call.result": JSON.stringify({ free: true }),
    });
    tool.end();
  });
  tracer.startActiveSpan("chat gpt-4o", (failed) => {
    failed.setAttributes({ "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o", "error.type": "RateLimitError" });
    failed.setStatus({ code: SpanStatusCode.ERROR, message: "rate limited" });
    failed.end();
  });
  root.end();
  return root.spanContext().traceId;
});
await sdk.shutdown();
console.log(JSON.stringify({ traceId }));

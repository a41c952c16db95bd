import type { Attributes, AttributeValue, StagedSpan } from './otlp-span.js';

// The attribute names read from a span, current GenAI semantic conventions first, then the
// older and framework-specific names the same fact has gone by (docs/otel.md has the table).

export const INPUT_TOKENS = [
  'gen_ai.usage.input_tokens',
  'gen_ai.usage.prompt_tokens',
  'llm.token_count.prompt',
  'ai.usage.inputTokens',
  'ai.usage.promptTokens',
];
export const OUTPUT_TOKENS = [
  'gen_ai.usage.output_tokens',
  'gen_ai.usage.completion_tokens',
  'llm.token_count.completion',
  'ai.usage.outputTokens',
  'ai.usage.completionTokens',
];
export const CACHED_INPUT_TOKENS = [
  'gen_ai.usage.cache_read.input_tokens',
  'gen_ai.usage.cache_read_input_tokens',
  'llm.token_count.prompt_details.cache_read',
  'ai.usage.cachedInputTokens',
  'ai.usage.inputTokenDetails.cacheReadTokens',
];
export const MODEL = [
  'gen_ai.response.model',
  'gen_ai.request.model',
  'llm.model_name',
  'ai.response.model',
  'ai.model.id',
];
export const PROVIDER = [
  'gen_ai.provider.name',
  'gen_ai.system',
  'llm.provider',
  'llm.system',
  'ai.model.provider',
];
export const TOOL_NAME = ['gen_ai.tool.name', 'ai.toolCall.name', 'tool.name'];
/** OpenInference's `agent.name`, and `graph.node.id`, which its agent instrumentations set to the agent's name. */
export const AGENT = [
  'gen_ai.agent.name',
  'gen_ai.agent.id',
  'agent.name',
  'graph.node.id',
  'ai.telemetry.functionId',
];
export const USER = ['user.id', 'enduser.id', 'ai.telemetry.metadata.userId'];
/** A cost the producer reports, in cents. */
export const COST_CENTS = ['execution_ledger.cost_cents'];
/** A cost the producer reports, in US dollars (Langfuse's and OpenInference's names). */
export const COST_USD = ['gen_ai.usage.cost', 'llm.cost.total'];
export const INPUT_MESSAGES = ['gen_ai.input.messages', 'ai.prompt.messages', 'ai.prompt', 'input.value'];
export const OUTPUT_MESSAGES = ['gen_ai.output.messages', 'ai.response.text', 'output.value'];
export const INTENT = ['execution_ledger.intent'];

/** GenAI operations and what kind of step each becomes. */
export type Operation =
  | 'chat'
  | 'text_completion'
  | 'embeddings'
  | 'generate_content'
  | 'execute_tool'
  | 'invoke_agent'
  | 'other';

export const INFERENCE_OPERATIONS: ReadonlySet<Operation> = new Set([
  'chat',
  'text_completion',
  'embeddings',
  'generate_content',
]);

const OPERATIONS = new Set<string>([...INFERENCE_OPERATIONS, 'execute_tool', 'invoke_agent']);

const OPENINFERENCE_KINDS: Record<string, Operation> = {
  LLM: 'chat',
  EMBEDDING: 'embeddings',
  TOOL: 'execute_tool',
  AGENT: 'invoke_agent',
};

/**
 * What a span did: `gen_ai.operation.name`, else OpenInference's span kind, else the Vercel AI
 * SDK's operation id, else the first word of the span name ("chat gpt-4o", "execute_tool x").
 */
export function operationOf(span: StagedSpan): Operation {
  const named = span.attributes['gen_ai.operation.name'];
  if (typeof named === 'string' && OPERATIONS.has(named)) return named as Operation;
  if (named === 'create_agent') return 'other';
  const openInference = span.attributes['openinference.span.kind'];
  if (typeof openInference === 'string' && OPENINFERENCE_KINDS[openInference] !== undefined) {
    return OPENINFERENCE_KINDS[openInference];
  }
  const vercel = span.attributes['ai.operationId'];
  if (typeof vercel === 'string') {
    if (/\.(doEmbed)$/.test(vercel)) return 'embeddings';
    if (/\.(doGenerate|doStream)$/.test(vercel)) return 'chat';
    if (vercel === 'ai.toolCall') return 'execute_tool';
  }
  const traceloop = span.attributes['traceloop.span.kind'];
  if (traceloop === 'tool') return 'execute_tool';
  const first = span.name.split(' ')[0] ?? '';
  return OPERATIONS.has(first) ? (first as Operation) : 'other';
}

/** The first of `names` the attributes hold (span first, then its resource). */
export function first(
  span: StagedSpan,
  names: readonly string[],
  resource = false,
): AttributeValue | undefined {
  for (const bag of resource ? [span.attributes, span.resource] : [span.attributes]) {
    for (const name of names) {
      const value = bag[name];
      if (value !== undefined && value !== null && value !== '') return value;
    }
  }
  return undefined;
}

export function firstText(span: StagedSpan, names: readonly string[], resource = false): string | undefined {
  const value = first(span, names, resource);
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** A count: a whole number of zero or more, from a number or its decimal text. */
export function firstCount(attributes: Attributes, names: readonly string[]): number | undefined {
  for (const name of names) {
    const value = attributes[name];
    const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number === 'number' && Number.isSafeInteger(number) && number >= 0) return number;
  }
  return undefined;
}

/** A non-negative finite amount, from a number or its decimal text. */
export function firstAmount(attributes: Attributes, names: readonly string[]): number | undefined {
  for (const name of names) {
    const value = attributes[name];
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof number === 'number' && Number.isFinite(number) && number >= 0) return number;
  }
  return undefined;
}

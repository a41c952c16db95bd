/** An attribute value as JSON: OTLP's AnyValue with ints beyond 2^53 kept as decimal text. */
export type AttributeValue =
  | string
  | number
  | boolean
  | null
  | AttributeValue[]
  | { [key: string]: AttributeValue };

export type Attributes = Record<string, AttributeValue>;

/**
 * One span as staged and assembled: decoded from protobuf or JSON into the same plain shape,
 * ids as lower-case hex, times as decimal nanoseconds since the epoch (text, since they pass 2^53).
 */
export interface StagedSpan {
  trace_id: string;
  span_id: string;
  /** null for a root span. */
  parent_span_id: string | null;
  name: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  start_ns: string;
  end_ns: string;
  attributes: Attributes;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  events: { name: string; time_ns: string; attributes: Attributes }[];
  resource: Attributes;
  scope: { name: string; version: string };
}

/** A span with the project it was accepted for (the resource attribute, else the key's only project). */
export interface ProjectSpan extends StagedSpan {
  project_id: string;
}

/** The resource attribute that names the ledger project a span's runs belong to. */
export const PROJECT_ATTRIBUTE = 'execution_ledger.project';

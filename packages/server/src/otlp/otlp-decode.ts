import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { LedgerError } from 'execution-ledger';
import { isSafeNumber, parse } from 'lossless-json';
import type { Type } from 'protobufjs';
import type { Attributes, AttributeValue, StagedSpan } from './otlp-span.js';

/** The two encodings of OTLP/HTTP. */
export type OtlpEncoding = 'protobuf' | 'json';

const PROTO_FILE = fileURLToPath(new URL('../../proto/otlp-trace.proto', import.meta.url));

interface OtlpSchema {
  ExportRequest: Type;
  ExportResponse: Type;
}
let schema: Promise<OtlpSchema> | undefined;

/** The OTLP messages, parsed from the .proto file on first use (every CLI command need not pay for it). */
function otlpSchema(): Promise<OtlpSchema> {
  schema ??= import('protobufjs').then(({ default: protobuf }) => {
    const root = protobuf.loadSync(PROTO_FILE);
    return {
      ExportRequest: root.lookupType('opentelemetry.proto.ExportTraceServiceRequest'),
      ExportResponse: root.lookupType('opentelemetry.proto.ExportTraceServiceResponse'),
    };
  });
  return schema;
}

/** A span the service will not stage, and why: named in the partial-success answer. */
export interface SpanRefusal {
  /** The span id in hex, or a position when the id itself is unreadable. */
  span: string;
  error: LedgerError;
}

/** The spans of one ResourceSpans: its resource's attributes, the readable spans and the refused ones. */
export interface DecodedResource {
  resource: Attributes;
  spans: StagedSpan[];
  refused: SpanRefusal[];
}

/** The encoding a content type names, or 415 with what is accepted. */
export function otlpEncoding(contentType: string | undefined): OtlpEncoding {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (media === 'application/x-protobuf') return 'protobuf';
  if (media === 'application/json') return 'json';
  throw new LedgerError(
    'UNSUPPORTED_MEDIA_TYPE',
    `content-type ${JSON.stringify((contentType ?? '(none)').slice(0, 60))} is not an OTLP/HTTP encoding; ` +
      'send application/x-protobuf (the exporters default) or application/json',
    { field: 'content-type' },
  );
}

/**
 * The body's bytes after its content-encoding: identity or gzip, inflated to at most `bytesMax`
 * so a small compressed body cannot expand without bound.
 */
export function inflateBody(body: Buffer, contentEncoding: string | undefined, bytesMax: number): Buffer {
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return body;
  if (encoding !== 'gzip') {
    throw new LedgerError(
      'UNSUPPORTED_MEDIA_TYPE',
      `content-encoding ${JSON.stringify(encoding.slice(0, 40))} is not supported; send gzip or no compression`,
      { field: 'content-encoding' },
    );
  }
  try {
    return gunzipSync(body, { maxOutputLength: bytesMax });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new LedgerError(
        'PAYLOAD_TOO_LARGE',
        `the gzip body inflates to more than ${bytesMax} bytes; export smaller batches (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)`,
        { field: 'body' },
      );
    }
    throw new LedgerError(
      'VALIDATION_FAILED',
      `body is declared gzip but does not inflate (${(error as Error).message}); send valid gzip or drop content-encoding`,
      { field: 'body' },
    );
  }
}

/** Decodes an ExportTraceServiceRequest into its resources and spans; an unreadable body is a 400. */
export async function decodeExportRequest(body: Buffer, encoding: OtlpEncoding): Promise<DecodedResource[]> {
  const request =
    encoding === 'protobuf' ? decodeProtobuf(body, (await otlpSchema()).ExportRequest) : decodeJson(body);
  const resourceSpans = listOf(request.resourceSpans, 'resourceSpans');
  return resourceSpans.map((resourceSpan, r) => {
    const rs = objectOf(resourceSpan, `resourceSpans[${r}]`);
    const resource = attributesOf(objectOf(rs.resource ?? {}, 'resource').attributes);
    const decoded: DecodedResource = { resource, spans: [], refused: [] };
    listOf(rs.scopeSpans, `resourceSpans[${r}].scopeSpans`).forEach((scopeSpan, s) => {
      const ss = objectOf(scopeSpan, `resourceSpans[${r}].scopeSpans[${s}]`);
      const scopeObject = objectOf(ss.scope ?? {}, 'scope');
      const scope = { name: textOf(scopeObject.name), version: textOf(scopeObject.version) };
      listOf(ss.spans, `resourceSpans[${r}].scopeSpans[${s}].spans`).forEach((raw, i) => {
        const at = `resourceSpans[${r}].scopeSpans[${s}].spans[${i}]`;
        try {
          decoded.spans.push(toSpan(objectOf(raw, at), resource, scope, at));
        } catch (error) {
          if (!(error instanceof LedgerError)) throw error;
          const id = (raw as { spanId?: unknown } | null)?.spanId;
          decoded.refused.push({ span: safeId(id) ?? at, error });
        }
      });
    });
    return decoded;
  });
}

/** The answer to an export, in the request's encoding: empty, or OTLP's partial success. */
export async function encodeExportResponse(
  encoding: OtlpEncoding,
  partial: { rejectedSpans: number; errorMessage: string } | undefined,
): Promise<Buffer | Record<string, unknown>> {
  if (encoding === 'json') {
    return partial === undefined
      ? {}
      : {
          partialSuccess: {
            rejectedSpans: String(partial.rejectedSpans),
            errorMessage: partial.errorMessage,
          },
        };
  }
  const { ExportResponse } = await otlpSchema();
  const message = ExportResponse.fromObject(
    partial === undefined
      ? {}
      : { partialSuccess: { rejectedSpans: partial.rejectedSpans, errorMessage: partial.errorMessage } },
  );
  return Buffer.from(ExportResponse.encode(message).finish());
}

/** Reads an ExportTraceServiceResponse (for tests and clients of this service). */
export async function decodeExportResponse(
  bytes: Uint8Array,
): Promise<{ rejectedSpans: number; errorMessage: string }> {
  const { ExportResponse } = await otlpSchema();
  const object = ExportResponse.toObject(ExportResponse.decode(bytes), { longs: Number, defaults: true }) as {
    partialSuccess?: { rejectedSpans: number; errorMessage: string };
  };
  return object.partialSuccess ?? { rejectedSpans: 0, errorMessage: '' };
}

function decodeProtobuf(body: Buffer, ExportRequest: Type): Record<string, unknown> {
  try {
    const message = ExportRequest.decode(body);
    return ExportRequest.toObject(message, { longs: String, enums: Number, oneofs: false });
  } catch (error) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `body is not an OTLP ExportTraceServiceRequest in protobuf (${(error as Error).message}); ` +
        'send what an OTLP/HTTP protobuf exporter sends, or use application/json',
      { field: 'body' },
    );
  }
}

function decodeJson(body: Buffer): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'body is not well-formed UTF-8; encode the OTLP JSON as UTF-8',
      {
        field: 'body',
      },
    );
  }
  let value: unknown;
  try {
    // Timestamps in nanoseconds pass 2^53: keep every unsafe number as its decimal text.
    value = parse(text, null, (digits) => (isSafeNumber(digits) ? Number(digits) : digits));
  } catch (error) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `body is not valid JSON (${(error as Error).message}); send one OTLP ExportTraceServiceRequest in JSON`,
      { field: 'body' },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LedgerError('VALIDATION_FAILED', 'body must be a JSON object { resourceSpans: [...] }', {
      field: 'body',
    });
  }
  return value as Record<string, unknown>;
}

function toSpan(
  raw: Record<string, unknown>,
  resource: Attributes,
  scope: { name: string; version: string },
  at: string,
): StagedSpan {
  const traceId = requireId(raw.traceId, 16, `${at}.traceId`);
  const spanId = requireId(raw.spanId, 8, `${at}.spanId`);
  const parent = raw.parentSpanId;
  const parentSpanId =
    parent === undefined || parent === '' || (parent instanceof Uint8Array && parent.length === 0)
      ? null
      : requireId(parent, 8, `${at}.parentSpanId`);
  const start = nanosOf(raw.startTimeUnixNano, `${at}.startTimeUnixNano`);
  const end = nanosOf(raw.endTimeUnixNano, `${at}.endTimeUnixNano`);
  if (BigInt(end) < BigInt(start)) refuse(`${at}.endTimeUnixNano`, 'is before startTimeUnixNano');
  const status = objectOf(raw.status ?? {}, `${at}.status`);
  const span: StagedSpan = {
    trace_id: traceId,
    span_id: spanId,
    parent_span_id: parentSpanId,
    name: textOf(raw.name),
    kind: enumOf(raw.kind, SPAN_KINDS),
    start_ns: start,
    end_ns: end,
    attributes: attributesOf(raw.attributes),
    status: { code: enumOf(status.code, STATUS_CODES), message: textOf(status.message) },
    events: listOf(raw.events ?? [], `${at}.events`).map((event, e) => {
      const ev = objectOf(event, `${at}.events[${e}]`);
      return {
        name: textOf(ev.name),
        time_ns: nanosOf(ev.timeUnixNano ?? '0', `${at}.events[${e}].timeUnixNano`),
        attributes: attributesOf(ev.attributes),
      };
    }),
    resource,
    scope,
  };
  requireStorableText(span, at);
  return span;
}

const SPAN_KINDS = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

function enumOf(value: unknown, names: string[]): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && names.includes(value)) return names.indexOf(value);
  return 0;
}

/** A trace id (16 bytes) or span id (8 bytes): bytes from protobuf, hex text from JSON; never all zero. */
function requireId(value: unknown, bytes: number, field: string): string {
  let hex: string | undefined;
  if (value instanceof Uint8Array && value.length === bytes) hex = Buffer.from(value).toString('hex');
  if (typeof value === 'string' && new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(value))
    hex = value.toLowerCase();
  if (hex === undefined || /^0+$/.test(hex)) {
    refuse(field, `must be ${bytes} bytes (${bytes * 2} hex digits in JSON), not all zero`);
  }
  return hex;
}

function safeId(value: unknown): string | undefined {
  if (value instanceof Uint8Array && value.length === 8) return Buffer.from(value).toString('hex');
  if (typeof value === 'string' && /^[0-9a-fA-F]{16}$/.test(value)) return value.toLowerCase();
  return undefined;
}

function nanosOf(value: unknown, field: string): string {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !/^\d{1,20}$/.test(text) || BigInt(text) >= 2n ** 64n) {
    refuse(field, 'must be nanoseconds since the epoch as an unsigned 64-bit integer');
  }
  return BigInt(text).toString();
}

function attributesOf(value: unknown): Attributes {
  const attributes: Attributes = Object.create(null);
  if (!Array.isArray(value)) return attributes;
  for (const entry of value) {
    const pair = entry as { key?: unknown; value?: unknown } | null;
    if (pair === null || typeof pair.key !== 'string') continue;
    Object.defineProperty(attributes, pair.key, {
      value: anyValueOf(pair.value, 0),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { ...attributes };
}

/** OTLP AnyValue as plain JSON; nesting deeper than 32 levels becomes null. */
function anyValueOf(value: unknown, depth: number): AttributeValue {
  if (value === null || typeof value !== 'object' || depth > 32) return null;
  const any = value as Record<string, unknown>;
  if (typeof any.stringValue === 'string') return any.stringValue;
  if (typeof any.boolValue === 'boolean') return any.boolValue;
  if (any.intValue !== undefined) {
    const text = String(any.intValue);
    return /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : text;
  }
  if (any.doubleValue !== undefined) {
    const number = Number(any.doubleValue);
    return Number.isFinite(number) ? number : String(any.doubleValue);
  }
  if (any.arrayValue !== undefined) {
    const values = (any.arrayValue as { values?: unknown } | null)?.values;
    return Array.isArray(values) ? values.map((item) => anyValueOf(item, depth + 1)) : [];
  }
  if (any.kvlistValue !== undefined) {
    const values = (any.kvlistValue as { values?: unknown } | null)?.values;
    const object: Record<string, AttributeValue> = {};
    for (const entry of Array.isArray(values) ? values : []) {
      const pair = entry as { key?: unknown; value?: unknown } | null;
      if (pair !== null && typeof pair.key === 'string') {
        Object.defineProperty(object, pair.key, {
          value: anyValueOf(pair.value, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    return object;
  }
  if (any.bytesValue instanceof Uint8Array) return Buffer.from(any.bytesValue).toString('base64');
  if (typeof any.bytesValue === 'string') return any.bytesValue;
  return null;
}

/** PostgreSQL's jsonb holds neither NUL nor a lone surrogate: refuse such a span rather than alter it. */
function requireStorableText(value: unknown, at: string): void {
  const check = (text: string) => {
    if (text.includes('\u0000') || !text.isWellFormed()) {
      refuse(
        at,
        'holds a NUL character or a lone UTF-16 surrogate in a name or attribute; send plain Unicode text',
      );
    }
  };
  const walk = (node: unknown): void => {
    if (typeof node === 'string') check(node);
    else if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        check(key);
        walk(child);
      }
    }
  };
  walk(value);
}

function listOf(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new LedgerError('VALIDATION_FAILED', `${field} must be an array`, { field });
  }
  return value;
}

function objectOf(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LedgerError('VALIDATION_FAILED', `${field} must be an object`, { field });
  }
  return value as Record<string, unknown>;
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function refuse(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}

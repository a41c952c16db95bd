/**
 * The record's fields, written out once. Row reads, the chain scan, the hashed payload's key
 * lists, export columns and headers, the server's JSON schemas and import parsing derive from
 * this table; the few hand-written fast paths that must stay (payload text templates, the
 * SQL-built NDJSON line, per-row mappers) are held to it by record-fields.test.ts. See
 * docs/architecture.md, "Adding a field".
 */

/** A JSON schema fragment, as Fastify and /openapi.json take it. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/**
 * What a field holds. `id` is caller-chosen text under the id rules, `uuid` the database's row
 * id, `counter` a database-assigned integer, `time` the database's created_at, `hash` a hex
 * SHA-256 digest; the last four are chain fields, never part of an input.
 */
export type RecordFieldKind = 'id' | 'text' | 'status' | 'json' | 'uuid' | 'time' | 'counter' | 'hash';

export interface RecordField<Name extends string = string> {
  /** The key in ExecutionRecord, the column name, and the key in NDJSON exports. */
  readonly name: Name;
  readonly kind: RecordFieldKind;
  /** Part of the payload that payload_hash covers (every hash version hashes the same fields). */
  readonly hashed: boolean;
  /** The key an ExecutionInput gives it under, or null when the database assigns it. */
  readonly input: string | null;
  /** Whether an input must carry it (the server's request schema). */
  readonly inputRequired: boolean;
  /**
   * `always`, or left out of a record (and of the streamed NDJSON line) when null. A record object
   * gets such fields after the others, as they are set only when present.
   */
  readonly presence: 'always' | 'when-not-null';
  /**
   * The select expression of a record read: cast so both engines return the same JS types (text
   * for ids, times, hashes and counters; parsed JSON for JSON columns).
   */
  readonly select: string;
  /** The select expression of a chain scan (content as text, so no JSON is parsed), or null. */
  readonly scan: string | null;
  /** The field in the server's response schema. */
  readonly schema: JsonSchema;
  /** The field in the server's request schema, when it is an input. */
  readonly inputSchema: JsonSchema | null;
}

const CREATED_AT_MS_TEXT = `to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const jsonObject = { type: 'object', additionalProperties: true } as const;
const nullableText = { type: ['string', 'null'] } as const;
const statusSchema = { type: 'string', enum: ['completed', 'failed', 'aborted'] } as const;
const requiredText = { type: 'string', minLength: 1 } as const;
const hex = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

const costInputSchema = {
  type: 'object',
  required: ['total'],
  additionalProperties: false,
  properties: {
    total: { type: 'number', minimum: 0, description: 'Total cost in cents, up to six decimals.' },
    breakdown: {
      type: 'object',
      additionalProperties: { type: 'number', minimum: 0 },
      description: 'Parts in cents (tokens, toolCalls, externalRequests, penalties, …) summing to total.',
    },
    pricing: jsonObject,
  },
} as const;

const traceSchema = {
  type: 'object',
  required: ['steps', 'duration_ms'],
  additionalProperties: true,
  properties: {
    steps: { type: 'array', items: jsonObject },
    duration_ms: { type: 'number', minimum: 0 },
    tool_calls: { type: 'integer', minimum: 0 },
    api_calls: { type: 'integer', minimum: 0 },
  },
} as const;

/** A caller-chosen id: selected as stored, in every schema as text. */
function idField<Name extends string>(name: Name, inputSchema: JsonSchema = requiredText): RecordField<Name> {
  const column = `e.${name}`;
  return {
    name,
    kind: 'id',
    hashed: true,
    input: name,
    inputRequired: true,
    presence: 'always',
    select: column,
    scan: column,
    schema: { type: 'string' },
    inputSchema,
  };
}

/** A JSON column: parsed on a record read, jsonb text on a chain scan. */
function jsonField<Name extends string>(
  name: Name,
  input: string,
  parts: Partial<Omit<RecordField, 'name'>>,
): RecordField<Name> {
  return {
    name,
    kind: 'json',
    hashed: true,
    input,
    inputRequired: true,
    presence: 'always',
    select: `e.${name}`,
    scan: `e.${name}::text as ${name}`,
    schema: jsonObject,
    inputSchema: jsonObject,
    ...parts,
  };
}

/** A field the database assigns when the entry is appended. */
function chainField<Name extends string>(
  name: Name,
  kind: RecordFieldKind,
  selects: { select: string; scan: string | null },
  schema: JsonSchema,
): RecordField<Name> {
  return {
    name,
    kind,
    hashed: false,
    input: null,
    inputRequired: false,
    presence: 'always',
    ...selects,
    schema,
    inputSchema: null,
  };
}

/** An expression that is both the record read's and the chain scan's select. */
function both(select: string): { select: string; scan: string } {
  return { select, scan: select };
}

/**
 * Every field of a stored record, in ExecutionRecord's order, which is also the key order of a
 * streamed NDJSON line and of the server's schemas.
 */
export const RECORD_FIELDS = [
  chainField('id', 'uuid', { select: 'e.id::text as id', scan: null }, { type: 'string', format: 'uuid' }),
  idField('run_id', {
    ...requiredText,
    description: 'Chosen by the caller; the same run_id with the same content replays.',
  }),
  idField('project_id'),
  idField('user_id'),
  idField('agent_id'),
  {
    ...idField('parent_run_id', { ...nullableText, description: 'The run that triggered this one.' }),
    inputRequired: false,
    schema: nullableText,
  },
  {
    ...idField('intent'),
    kind: 'text',
  },
  jsonField('input', 'input', {}),
  jsonField('output', 'output', {
    inputRequired: false,
    presence: 'when-not-null',
    schema: { description: 'Any JSON value; absent when none was recorded.' },
    inputSchema: { description: 'Any JSON value.' },
  }),
  jsonField('cost_json', 'cost', {
    schema: {
      type: 'object',
      required: ['total', 'breakdown'],
      additionalProperties: true,
      properties: {
        total: { type: 'number' },
        breakdown: { type: 'object', additionalProperties: { type: 'number' } },
        pricing: jsonObject,
      },
    },
    inputSchema: {
      anyOf: [{ type: 'number', minimum: 0 }, costInputSchema],
      description: 'Cents; a bare number is shorthand for { total, breakdown: {} }.',
    },
  }),
  jsonField('execution_trace_json', 'execution_trace', { schema: traceSchema, inputSchema: traceSchema }),
  { ...idField('status', statusSchema), kind: 'status', schema: statusSchema },
  {
    ...idField('error_message', {
      ...nullableText,
      description: 'Required when status is failed or aborted.',
    }),
    kind: 'text',
    inputRequired: false,
    presence: 'when-not-null',
  },
  chainField('created_at', 'time', both(`${CREATED_AT_MS_TEXT} as created_at`), {
    type: 'string',
    format: 'date-time',
  }),
  // The scan reads seq as a number: it is compared and hashed, never shown.
  chainField(
    'seq',
    'counter',
    { select: 'e.seq::text as seq', scan: 'e.seq::float8 as seq' },
    { type: 'integer', minimum: 1 },
  ),
  chainField('hash_version', 'counter', both('e.hash_version::integer as hash_version'), { type: 'integer' }),
  chainField('payload_hash', 'hash', both(`encode(e.payload_hash, 'hex') as payload_hash`), hex),
  chainField('prev_hash', 'hash', both(`encode(e.prev_hash, 'hex') as prev_hash`), hex),
  chainField('entry_hash', 'hash', both(`encode(e.entry_hash, 'hex') as entry_hash`), hex),
] as const satisfies readonly RecordField[];

export type RecordFieldName = (typeof RECORD_FIELDS)[number]['name'];

/** The fields payload_hash covers, in ExecutionRecord's order. */
export const PAYLOAD_FIELDS: readonly RecordField[] = RECORD_FIELDS.filter((field) => field.hashed);

/** The fields the database assigns: what an import drops and the ledger assigns again. */
export const CHAIN_FIELDS: readonly RecordField[] = RECORD_FIELDS.filter((field) => field.input === null);

/** The payload's keys in RFC 8785 order (UTF-16 code units), as hash version 1 writes them. */
export const PAYLOAD_KEYS_V1: readonly string[] = PAYLOAD_FIELDS.map((field) => field.name).sort((a, b) =>
  a < b ? -1 : a > b ? 1 : 0,
);

/** The payload's keys in jsonb's order (UTF-8 byte length, then bytes), as version 2 hashes them. */
export const PAYLOAD_KEYS_V2: readonly string[] = PAYLOAD_FIELDS.map((field) => field.name).sort(
  (a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)),
);

/** The keys of exportExecutionsToNDJSON's objects: seq first, then the record's order, all present. */
export const NDJSON_OBJECT_KEYS: readonly string[] = [
  'seq',
  ...RECORD_FIELDS.map((field) => field.name).filter((name) => name !== 'seq'),
];

/** The select list of a record read (alias `e`), in the record's order. */
export function recordSelectList(): string {
  return RECORD_FIELDS.map((field) => field.select).join(', ');
}

/** The select list of a chain scan (alias `e`): every field it hashes or checks, as text. */
export function scanSelectList(): string {
  return RECORD_FIELDS.flatMap((field) => (field.scan === null ? [] : [field.scan])).join(', ');
}

/** The documented CSV columns (docs/api.md), in order: record fields, and values read out of JSON fields. */
export const CSV_COLUMNS = [
  'seq',
  'created_at',
  'run_id',
  'project_id',
  'user_id',
  'agent_id',
  'parent_run_id',
  'intent',
  'status',
  'error_message',
  'cost_total',
  'cost_tokens',
  'cost_tool_calls',
  'cost_external_requests',
  'cost_penalties',
  'duration_ms',
  'steps',
  'tool_calls',
  'api_calls',
  'id',
  'entry_hash',
] as const;

export type CsvColumn = (typeof CSV_COLUMNS)[number];

/**
 * The CSV columns that are not record fields, as text: a spreadsheet gets the amounts and counts
 * finance asks for without parsing JSON. The type makes every such column name its expression.
 */
const CSV_DERIVED_COLUMNS: Record<Exclude<CsvColumn, RecordFieldName>, string> = {
  cost_total: `e.cost_json ->> 'total'`,
  cost_tokens: `e.cost_json -> 'breakdown' ->> 'tokens'`,
  cost_tool_calls: `e.cost_json -> 'breakdown' ->> 'toolCalls'`,
  cost_external_requests: `e.cost_json -> 'breakdown' ->> 'externalRequests'`,
  cost_penalties: `e.cost_json -> 'breakdown' ->> 'penalties'`,
  duration_ms: `e.execution_trace_json ->> 'duration_ms'`,
  steps: `(case when jsonb_typeof(e.execution_trace_json -> 'steps') = 'array'
      then jsonb_array_length(e.execution_trace_json -> 'steps') else 0 end)::text`,
  tool_calls: `e.execution_trace_json ->> 'tool_calls'`,
  api_calls: `e.execution_trace_json ->> 'api_calls'`,
};

/** The select list of a CSV export (alias `e`): every column as text or null, in CSV_COLUMNS order. */
export function csvSelectList(): string {
  return CSV_COLUMNS.map((name) => {
    const field = RECORD_FIELDS.find((candidate) => candidate.name === name);
    if (field !== undefined) return field.select;
    return `${CSV_DERIVED_COLUMNS[name as keyof typeof CSV_DERIVED_COLUMNS]} as ${name}`;
  }).join(', ');
}

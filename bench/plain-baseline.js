// The baseline: the executions table's columns and secondary indexes, with none of the chain
// (no seq, no hashes, no lock), no validation and no canonical JSON. What plain PostgreSQL costs.
export const PLAIN_TABLE_SQL = [
  `create table bench_plain.executions (
    id uuid primary key default gen_random_uuid(), run_id text not null unique, project_id text not null,
    user_id text not null, agent_id text not null, parent_run_id text, intent text not null,
    input jsonb not null, output jsonb, cost_json jsonb not null, execution_trace_json jsonb not null,
    status text not null, error_message text, created_at timestamptz not null default now(),
    cost_total numeric(20, 6) generated always as ((cost_json ->> 'total')::numeric(20, 6)) stored,
    duration_ms bigint generated always as (round((execution_trace_json ->> 'duration_ms')::numeric)::bigint) stored)`,
  `create index on bench_plain.executions (project_id, created_at) include (agent_id, status, cost_total, duration_ms)`,
  'create index on bench_plain.executions (agent_id, created_at desc, id desc) include (project_id, cost_total)',
  'create index on bench_plain.executions (user_id, created_at desc, id desc)',
  'create index on bench_plain.executions (created_at desc, id desc)',
  `create index on bench_plain.executions (project_id, created_at desc, id desc) where status <> 'completed'`,
];

const COLUMNS = 11;

function values(row) {
  const cost = typeof row.cost === 'number' ? { total: row.cost, breakdown: {} } : row.cost;
  return [
    row.run_id,
    row.project_id,
    row.user_id,
    row.agent_id,
    row.intent,
    JSON.stringify(row.input),
    row.output === undefined ? null : JSON.stringify(row.output),
    JSON.stringify(cost),
    JSON.stringify(row.execution_trace),
    row.status,
    row.error_message ?? null,
  ];
}

function placeholders(rowIndex) {
  const base = rowIndex * COLUMNS;
  const list = Array.from({ length: COLUMNS }, (_, column) => `$${base + column + 1}`);
  return `(${list.join(', ')})`;
}

const INSERT_PREFIX = `insert into bench_plain.executions
  (run_id, project_id, user_id, agent_id, intent, input, output, cost_json, execution_trace_json, status, error_message)
  values `;

/** One row, one statement, autocommit: the durable single insert. */
export function plainInsertOne(database, row) {
  return database.query(INSERT_PREFIX + placeholders(0), values(row));
}

/** Many rows in one multi-row INSERT statement. */
export function plainInsertMany(database, rows) {
  return database.query(
    INSERT_PREFIX + rows.map((_, index) => placeholders(index)).join(', '),
    rows.flatMap(values),
  );
}

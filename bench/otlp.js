// OTLP ingest (POST /v1/traces) from 16 concurrent OpenTelemetry exporters beside direct
// POST /v1/executions of the same runs from 16 concurrent callers, against one `serve` process on
// the same PostgreSQL server in the same run. Each run is an agent invocation with two model calls
// and a tool call (4 spans), exported as one protobuf batch, as a BatchSpanProcessor would.
// Reports spans/s and runs/s accepted, p99 of the export call, runs/s recorded once staging has
// been assembled, and the ratios to direct appends. Bounded: BENCH_DURATION_S per phase (default 5).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { formatTable, machineFacts, percentile } from './report.js';

const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONCURRENCY = 16;
const CLI = fileURLToPath(new URL('../packages/server/dist/cli/main.js', import.meta.url));
const ADMIN_KEY = `bench-${randomUUID()}`;

if (!DATABASE_URL?.startsWith('postgres')) {
  console.error(
    'bench:otlp needs a PostgreSQL server: set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to postgres://…',
  );
  process.exit(1);
}

async function startServer() {
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--database',
      DATABASE_URL,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--log-level',
      'silent',
    ].concat(['--rate-limit', '100000000', '--otlp-grace', '200']),
    { env: { ...process.env, EXECUTION_LEDGER_ADMIN_KEY: ADMIN_KEY }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return { url, child };
}

const CHATS = [
  { model: 'gpt-4o', input: 1_200, cached: 200, output: 300 },
  { model: 'gpt-4o-mini', input: 800, cached: 0, output: 120 },
];

/** One agent run as the spans an instrumented agent ends with. */
function spansOfRun(tracer, memory) {
  const root = tracer.startSpan('invoke_agent bench-agent', {
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'bench-agent',
      'user.id': 'u-1',
    },
  });
  const inRoot = trace.setSpan(ROOT_CONTEXT, root);
  for (const chat of CHATS) {
    tracer
      .startSpan(
        `chat ${chat.model}`,
        {
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': chat.model,
            'gen_ai.usage.input_tokens': chat.input,
            'gen_ai.usage.cache_read.input_tokens': chat.cached,
            'gen_ai.usage.output_tokens': chat.output,
          },
        },
        inRoot,
      )
      .end();
  }
  tracer
    .startSpan(
      'execute_tool search',
      { attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' } },
      inRoot,
    )
    .end();
  root.end();
  const spans = memory.getFinishedSpans();
  memory.reset();
  return spans;
}

/** The same run as a direct append: three typed steps, the same tokens and costs. */
function directRun(projectId) {
  return {
    run_id: `bench-${randomUUID()}`,
    project_id: projectId,
    user_id: 'u-1',
    agent_id: 'bench-agent',
    intent: 'invoke_agent bench-agent',
    input: {},
    cost: { total: 0.5942, breakdown: { tokens: 0.5942 } },
    execution_trace: {
      steps: [
        {
          action: 'chat gpt-4o',
          kind: 'llm',
          model: 'gpt-4o',
          duration_ms: 1,
          cost: 0.575,
          tokens: { input: 1_200, output: 300, cached_input: 200 },
        },
        {
          action: 'chat gpt-4o-mini',
          kind: 'llm',
          model: 'gpt-4o-mini',
          duration_ms: 1,
          cost: 0.0192,
          tokens: { input: 800, output: 120, cached_input: 0 },
        },
        { action: 'execute_tool search', kind: 'tool', name: 'search', duration_ms: 1 },
      ],
      duration_ms: 3,
      tool_calls: 1,
    },
    status: 'completed',
  };
}

async function measureOtlp(url) {
  const projectId = `bench-otlp-${randomUUID()}`;
  const latencies = [];
  let [runs, spans, failures] = [0, 0, 0];
  const startedAt = performance.now();
  const endAt = startedAt + DURATION_S * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      const memory = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'bench', 'execution_ledger.project': projectId }),
        spanProcessors: [new SimpleSpanProcessor(memory)],
      });
      const tracer = provider.getTracer('bench');
      const exporter = new OTLPTraceExporter({
        url: `${url}/v1/traces`,
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      while (performance.now() < endAt) {
        const batch = spansOfRun(tracer, memory);
        const begin = performance.now();
        const result = await new Promise((resolve) => exporter.export(batch, resolve));
        latencies.push(performance.now() - begin);
        if (result.code === 0) {
          runs += 1;
          spans += batch.length;
        } else failures += 1;
      }
      await exporter.shutdown();
    }),
  );
  const acceptedS = (performance.now() - startedAt) / 1000;
  // Recorded: wait until every run is in the ledger (grace 200 ms, then the assembler).
  let recorded = 0;
  for (;;) {
    const page = await fetch(`${url}/v1/projects/${projectId}/executions?limit=1`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    }).then((response) => response.json());
    recorded = page.total;
    if (recorded >= runs || performance.now() - startedAt > (DURATION_S + 120) * 1000) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const recordedS = (performance.now() - startedAt) / 1000;
  // How many exports each staging statement (and commit) carried: the group commit at work.
  const metrics = await fetch(`${url}/metrics`).then((response) => response.text());
  const statements = Number(
    /^execution_ledger_otlp_staging_statements_total (\d+)/m.exec(metrics)?.[1] ?? NaN,
  );
  latencies.sort((a, b) => a - b);
  return {
    runs,
    spans,
    failures,
    spans_per_s: spans / acceptedS,
    runs_per_s: runs / acceptedS,
    p99_ms: percentile(latencies, 0.99),
    recorded,
    recorded_runs_per_s: recorded / recordedS,
    staging_statements: statements,
    exports_per_statement: (runs + failures) / statements,
  };
}

async function measureDirect(url) {
  const projectId = `bench-direct-${randomUUID()}`;
  const latencies = [];
  let failures = 0;
  const startedAt = performance.now();
  const endAt = startedAt + DURATION_S * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < endAt) {
        const begin = performance.now();
        const response = await fetch(`${url}/v1/executions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(directRun(projectId)),
        });
        await response.arrayBuffer();
        latencies.push(performance.now() - begin);
        if (response.status !== 201) failures += 1;
      }
    }),
  );
  const elapsedS = (performance.now() - startedAt) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    runs: latencies.length - failures,
    failures,
    runs_per_s: (latencies.length - failures) / elapsedS,
    p99_ms: percentile(latencies, 0.99),
  };
}

const server = await startServer();
let otlp;
let direct;
try {
  direct = await measureDirect(server.url);
  otlp = await measureOtlp(server.url);
} finally {
  server.child.kill('SIGTERM');
  await new Promise((resolve) => server.child.once('exit', resolve));
}

const fixed = (value, digits = 0) => Number(value).toFixed(digits);
console.log(
  `\nOTLP ingest vs direct POST /v1/executions, ${CONCURRENCY} concurrent senders, ${DURATION_S} s each`,
);
console.log(
  formatTable([
    {
      path: 'POST /v1/executions',
      'runs/s': fixed(direct.runs_per_s),
      'spans/s': '-',
      'p99 ms': fixed(direct.p99_ms, 1),
      'recorded runs/s': fixed(direct.runs_per_s),
      failures: direct.failures,
    },
    {
      path: 'POST /v1/traces (protobuf)',
      'runs/s': fixed(otlp.runs_per_s),
      'spans/s': fixed(otlp.spans_per_s),
      'p99 ms': fixed(otlp.p99_ms, 1),
      'recorded runs/s': fixed(otlp.recorded_runs_per_s),
      failures: otlp.failures,
    },
  ]),
);
const ratio = otlp.runs_per_s / direct.runs_per_s;
const recordedRatio = otlp.recorded_runs_per_s / direct.runs_per_s;
console.log(
  `\naccepted runs/s OTLP/direct ${fixed(ratio, 2)}x, recorded ${fixed(recordedRatio, 2)}x ` +
    `(${otlp.recorded} of ${otlp.runs} runs recorded); export p99 ${fixed(otlp.p99_ms, 1)} ms; ` +
    `${fixed(otlp.exports_per_statement, 1)} exports per staging statement; ` +
    `load average ${loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')}`,
);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(
  `./results/otlp-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  import.meta.url,
);
writeFileSync(
  file,
  `${JSON.stringify({ benchmark: 'otlp', duration_s: DURATION_S, concurrency: CONCURRENCY, machine: machineFacts(), direct, otlp, ratio, recorded_ratio: recordedRatio }, null, 2)}\n`,
);
console.log(`written to ${fileURLToPath(file)}`);

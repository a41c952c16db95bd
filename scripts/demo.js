// The main job on the embedded default: records the specification's example runs (and a few
// dozen realistic ones) into ./.execution-ledger, verifies the chain and prints the statistics.
// Run ids are fixed, so running it again replays instead of appending twice.
import { createLedger } from 'execution-ledger';

const PROJECT = 'proj-001';
const AGENTS = ['backend', 'database', 'devops', 'frontend'];

const ledger = createLedger({ database: process.env.DATABASE_URL ?? './.execution-ledger' });
try {
  const examples = [...seedExamples(), ...syntheticRuns(48)];
  const results = await ledger.recordExecutions(examples);
  const created = results.filter((result) => result.ok && !result.record.replayed).length;
  const failedToRecord = results.filter((result) => !result.ok);
  for (const result of failedToRecord)
    console.error(`not recorded: ${result.error.code}: ${result.error.message}`);
  console.log(
    `Recorded ${created} new runs (${results.length - created - failedToRecord.length} were already there).`,
  );

  const stats = await ledger.getProjectExecutionStats(PROJECT);
  const dollars = (cents) => `$${(cents / 100).toFixed(2)}`;
  console.log(`\nProject ${PROJECT}`);
  console.log(`- Total executions: ${stats.total_executions}`);
  console.log(
    `- Successful: ${stats.successful} (${((stats.successful / stats.total_executions) * 100).toFixed(1)}%)`,
  );
  console.log(`- Failed: ${stats.failed}`);
  console.log(`- Aborted: ${stats.aborted}`);
  console.log(`- Total cost: ${dollars(stats.total_cost)}`);
  console.log(`- Average cost: ${dollars(stats.avg_cost)}`);
  console.log(`- Average duration: ${stats.avg_duration_ms}ms`);
  console.log('By agent:');
  for (const [agent, data] of Object.entries(stats.by_agent)) {
    console.log(`- ${agent}: ${data.count} executions, ${dollars(data.cost)} total`);
  }
  const report = await ledger.verifyLedger(PROJECT);
  console.log(
    `\nChain: ${report.ok ? 'verified' : `BROKEN at seq ${report.first_bad_seq}: ${report.reason}`}, ` +
      `${report.entries_checked} entries, head ${report.head?.entry_hash.slice(0, 16)}…`,
  );
  if (!report.ok) process.exitCode = 1;
} finally {
  await ledger.close();
}

function seedExamples() {
  return [
    {
      run_id: 'run-12345-abc',
      project_id: PROJECT,
      user_id: 'user-001',
      agent_id: 'backend',
      intent: 'Deploy microservice to production',
      input: { service: 'user-api', version: 'v2.1.0', environment: 'production' },
      output: { deployed: true, url: 'https://user-api.example.com', instances: 3, health_check: 'passing' },
      cost: { total: 850, breakdown: { tokens: 300, toolCalls: 450, externalRequests: 100 } },
      execution_trace: {
        steps: [
          {
            timestamp: '2026-02-13T10:30:00Z',
            action: 'validate_service',
            duration_ms: 250,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T10:30:01Z',
            action: 'build_docker_image',
            duration_ms: 3000,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T10:30:05Z',
            action: 'push_to_registry',
            duration_ms: 1500,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T10:30:07Z',
            action: 'deploy_kubernetes',
            duration_ms: 2000,
            result: 'success',
          },
        ],
        duration_ms: 6750,
        tool_calls: 8,
        api_calls: 12,
      },
      status: 'completed',
    },
    {
      run_id: 'run-failed-001',
      project_id: PROJECT,
      user_id: 'user-001',
      agent_id: 'database',
      intent: 'Migrate schema with data validation',
      input: { migration_id: 'migration-2026-02-001', tables: ['users', 'profiles', 'settings'] },
      cost: { total: 250, breakdown: { tokens: 100, toolCalls: 150 } },
      execution_trace: {
        steps: [
          {
            timestamp: '2026-02-13T11:00:00Z',
            action: 'backup_database',
            duration_ms: 5000,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T11:00:06Z',
            action: 'validate_and_migrate',
            duration_ms: 2000,
            error: 'Constraint violation on users.email UNIQUE index',
          },
        ],
        duration_ms: 7000,
      },
      status: 'failed',
      error_message:
        'Database migration failed: Constraint violation on users.email UNIQUE index. Changes rolled back.',
    },
    {
      run_id: 'run-aborted-001',
      project_id: PROJECT,
      user_id: 'user-001',
      agent_id: 'devops',
      intent: 'Full infrastructure audit and optimization',
      input: { audit_type: 'comprehensive', include_optimization: true },
      cost: { total: 10000, breakdown: { tokens: 4000, toolCalls: 4000, externalRequests: 2000 } },
      execution_trace: {
        steps: [
          {
            timestamp: '2026-02-13T12:00:00Z',
            action: 'audit_compute_resources',
            duration_ms: 3000,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T12:00:04Z',
            action: 'audit_networking',
            duration_ms: 2000,
            result: 'success',
          },
        ],
        duration_ms: 5000,
        tool_calls: 12,
      },
      status: 'aborted',
      error_message: 'Execution aborted: Budget exceeded. Allocated: $50.00, Spent: $100.00',
    },
  ];
}

/** Deterministic synthetic runs: same ids and content on every run of the demo. */
function syntheticRuns(count) {
  const runs = [];
  for (let index = 1; index <= count; index += 1) {
    const agent = AGENTS[index % AGENTS.length];
    const failed = index % 11 === 0;
    const tokens = 40 + ((index * 37) % 400);
    const toolCalls = (index * 13) % 120;
    const duration = 800 + ((index * 211) % 9000);
    runs.push({
      run_id: `demo-run-${String(index).padStart(4, '0')}`,
      project_id: PROJECT,
      user_id: `user-00${1 + (index % 3)}`,
      agent_id: agent,
      intent: `${agent} task #${index}`,
      input: { task: index },
      ...(failed ? {} : { output: { ok: true } }),
      cost: { total: tokens + toolCalls, breakdown: { tokens, toolCalls } },
      execution_trace: { steps: [{ action: 'work', duration_ms: duration }], duration_ms: duration },
      status: failed ? 'failed' : 'completed',
      ...(failed ? { error_message: `Step "work" failed on attempt ${index}` } : {}),
    });
  }
  return runs;
}

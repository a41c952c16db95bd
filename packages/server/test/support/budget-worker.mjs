// One process of the budget race and crash tests: it opens its own ledger on the PostgreSQL
// server and reserves, records and settles against the shared budget until its time is up, then
// prints what it did as one JSON line. In 'crash' mode it takes holds, says so, and waits to be
// killed. Plain JavaScript so that node runs it as a child without a build step.
import { createLedger, isLedgerError } from 'execution-ledger';

const { BUDGET_DATABASE_URL, BUDGET_PROJECT, BUDGET_MODE, BUDGET_DURATION_MS, BUDGET_WORKER, BUDGET_TTL_MS } =
  process.env;
const ledger = createLedger({ database: BUDGET_DATABASE_URL, migrate: false, poolSize: 2 });
const scope = { project_id: BUDGET_PROJECT, agent_id: `agent-${BUDGET_WORKER}`, user_id: 'racer' };
const ttl = Number(BUDGET_TTL_MS);

/** A whole number of micro-cents from 1 cent to 20 cents, as cents. */
const randomCents = () => (1_000_000 + Math.floor(Math.random() * 19_000_000)) / 1_000_000;

function execution(runId, cents) {
  return {
    run_id: runId,
    ...scope,
    intent: 'race',
    input: { worker: BUDGET_WORKER },
    cost: { total: cents, breakdown: { tokens: cents } },
    execution_trace: { steps: [], duration_ms: 1 },
    status: 'completed',
  };
}

async function race() {
  const done = { reserved: 0, blocked: 0, settled: 0, released: 0, abandoned: 0, recorded: [] };
  const deadline = Date.now() + Number(BUDGET_DURATION_MS);
  let count = 0;
  while (Date.now() < deadline) {
    const estimate = randomCents();
    let reservation;
    try {
      reservation = await ledger.budgets.reserve(scope, estimate, { ttl_ms: ttl });
    } catch (error) {
      if (!isLedgerError(error, 'BUDGET_BLOCKED')) throw error;
      done.blocked += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      continue;
    }
    done.reserved += 1;
    const choice = Math.random();
    // Work is only done while the hold has time left: a lapsed hold no longer guards the budget.
    const timeLeft = Date.parse(reservation.expires_at) - Date.now();
    if (choice < 0.1) {
      done.abandoned += 1;
    } else if (choice < 0.2 || timeLeft < ttl / 2) {
      await ledger.budgets.release(reservation);
      done.released += 1;
    } else {
      const actual = Math.max(0.000001, Math.floor(estimate * Math.random() * 1_000_000) / 1_000_000);
      const runId = `race-${BUDGET_PROJECT}-${BUDGET_WORKER}-${count}`;
      count += 1;
      await ledger.recordExecution(execution(runId, actual));
      done.recorded.push({ run_id: runId, cents: actual });
      await ledger.budgets.settle(reservation, { run_id: runId });
      done.settled += 1;
    }
  }
  return done;
}

async function crash() {
  const held = [];
  for (let i = 0; i < 3; i += 1) held.push((await ledger.budgets.reserve(scope, 10, { ttl_ms: ttl })).id);
  process.stdout.write(`${JSON.stringify({ held })}\n`);
  await new Promise(() => undefined);
}

try {
  const result = BUDGET_MODE === 'crash' ? await crash() : await race();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await ledger.close();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
  await ledger.close();
}

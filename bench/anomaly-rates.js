// Measures anomaly detection on synthetic series (docs/alerts.md): the share of runs flagged on
// stationary log-normal costs and durations, and the share of injected spikes found, by size.
//
//   node bench/anomaly-rates.js        # embedded engine, in memory
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { createLedger } from 'execution-ledger';

const SERIES = Number(process.env.RATES_SERIES ?? 3);
const ledger = createLedger({ database: await PGlite.create() });
await ledger.anomalies.configure({ enabled: true });

function normals(seed) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function runs(project, count, seed, spikeEvery, factor) {
  const z = normals(seed);
  return Array.from({ length: count }, (_, index) => {
    const spike = spikeEvery > 0 && index >= 50 && index % spikeEvery === 0;
    const cents = Math.round(Math.exp(Math.log(50) + 0.5 * z()) * (spike ? factor : 1) * 1e6) / 1e6;
    const duration = Math.round(Math.exp(Math.log(2000) + 0.4 * z()) * (spike ? factor : 1));
    return {
      spike,
      execution: {
        run_id: `rate-${randomUUID()}`,
        project_id: project,
        user_id: 'u',
        agent_id: 'a',
        intent: 'rates',
        input: {},
        cost: { total: cents, breakdown: { tokens: cents } },
        execution_trace: { steps: [], duration_ms: duration },
        status: 'completed',
      },
    };
  });
}

async function flagged(project) {
  const page = await ledger.events.list({ project_id: project, limit: 1000 });
  return page.events.filter((event) => event.type.startsWith('anomaly.'));
}

async function series(count, seed, spikeEvery, factor) {
  const project = `rates-${randomUUID()}`;
  const all = runs(project, count, seed, spikeEvery, factor);
  for (let index = 0; index < all.length; index += 100) {
    await ledger.recordExecutions(all.slice(index, index + 100).map((run) => run.execution));
  }
  const events = await flagged(project);
  const spikes = new Set(all.filter((run) => run.spike).map((run) => run.execution.run_id));
  const byMetric = (metric) => events.filter((event) => event.type === `anomaly.${metric}`);
  return ['cost', 'duration'].map((metric) => {
    const hits = byMetric(metric).filter((event) => spikes.has(event.run_id)).length;
    const false_flags = byMetric(metric).length - hits;
    return { metric, runs: count, spikes: spikes.size, hits, false_flags, others: count - spikes.size };
  });
}

const rows = [];
const add = (label, results) => {
  for (const metric of ['cost', 'duration']) {
    const mine = results.filter((result) => result.metric === metric);
    const sum = (key) => mine.reduce((total, result) => total + result[key], 0);
    rows.push({
      series: label,
      metric,
      runs: sum('runs'),
      flagged_without_spike: `${((100 * sum('false_flags')) / sum('others')).toFixed(2)}%`,
      spikes_found: sum('spikes') === 0 ? '-' : `${sum('hits')}/${sum('spikes')}`,
    });
  }
};
const stationary = [];
for (let seed = 1; seed <= SERIES; seed += 1) stationary.push(...(await series(1000, seed, 0, 1)));
add('stationary log-normal', stationary);
for (const factor of [3, 5, 10, 20]) {
  const spiky = [];
  for (let seed = 1; seed <= SERIES; seed += 1) spiky.push(...(await series(400, 100 + seed, 25, factor)));
  add(`spikes x${factor} every 25th run`, spiky);
}
console.table(rows);
await ledger.close();

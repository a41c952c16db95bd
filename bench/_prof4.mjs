import { createLedger } from 'execution-ledger';
import { buildDown } from '../packages/ledger/dist/lineage/run-tree.js';
const R = process.argv[2];
const ledger = createLedger({ database: 'postgres://ledger:ledger@localhost:5432/ledger_t_lineage2_benchafter', poolSize: 2 });
const db = await ledger.database();
const rows = await db.query('select * from execution_ledger.lineage_down($1, 10000, 100000, null, false)', [R]);
await ledger.close();
const root = { run_id: R, recorded: true, parent_run_id: null, project_id: 'p', agent_id: 'a', user_id: 'u', status: 'completed', created_at: 'x', depth: 0, cost: 1 };
for (let k = 0; k < 3; k++) {
  const c = process.cpuUsage();
  for (let i = 0; i < 20; i++) buildDown(root, 1n, rows);
  const d = process.cpuUsage(c);
  console.log('buildDown cpu ms/call', ((d.user + d.system) / 1000 / 20).toFixed(1));
}

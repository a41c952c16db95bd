import { createLedger } from 'execution-ledger';
const R = process.argv[2];
const ledger = createLedger({ database: 'postgres://ledger:ledger@localhost:5432/ledger_t_lineage2_benchafter', poolSize: 2 });
const db = await ledger.database();
const cpu = async (label, fn, n = 10) => { await fn(); const c = process.cpuUsage(); const a = process.hrtime.bigint(); for (let i = 0; i < n; i++) await fn(); const d = process.cpuUsage(c); console.log(label, 'node cpu ms/call', ((d.user + d.system) / 1000 / n).toFixed(1), 'wall', (Number(process.hrtime.bigint() - a) / 1e6 / n).toFixed(1)); };
await cpu('fn rows', () => db.query('select * from execution_ledger.lineage_down($1, 10000, 100000, null, false)', [R]));
await cpu('getDescendants', () => ledger.getDescendants(R, { maxDepth: 10000, maxNodes: 100000 }));
await ledger.close();

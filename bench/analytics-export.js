// One export in a process of its own, so its peak RSS is the export's and not the benchmark's:
//   node bench/analytics-export.js <csv|ndjson> <database> <projectId>
// Streams the project's export into a sink that counts bytes and lines, then prints JSON.
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createLedger } from 'execution-ledger';

const [format, database, projectId] = process.argv.slice(2);
const ledger = createLedger({ database, migrate: false });
await ledger.ready();
let bytes = 0;
let lines = 0;
const sink = new Writable({
  write(chunk, _encoding, done) {
    bytes += chunk.length;
    for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) lines += 1;
    done();
  },
});
const started = performance.now();
const cpuStarted = process.cpuUsage();
const source =
  format === 'csv' ? ledger.exportCsvStream({ projectId }) : ledger.exportNdjsonStream({ projectId });
await pipeline(source, sink);
const seconds = (performance.now() - started) / 1000;
// The machine is often shared: CPU time per row is steadier than rows per second, and shows
// whether this process or the database server is the bottleneck.
const cpu = process.cpuUsage(cpuStarted);
await ledger.close();
// CSV records may hold line breaks inside quotes; the benchmark's texts have none, so lines are
// rows (plus the header).
const rows = format === 'csv' ? lines - 1 : lines;
console.log(
  JSON.stringify({
    format,
    rows,
    bytes,
    seconds,
    rows_per_s: Math.round(rows / seconds),
    cpu_us_per_row: Number(((cpu.user + cpu.system) / Math.max(rows, 1)).toFixed(1)),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);

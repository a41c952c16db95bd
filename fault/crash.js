// The crash suite: kill -9 loops on an embedded folder, then crash loops of a throwaway
// PostgreSQL cluster, each checked after every crash and at the end (docs/reliability.md).
// Prints one summary line per part on stdout, progress on stderr; exits 1 on any problem.
//
//   npm run fault:crash                                   # full: 200 kills, 20 server crashes
//   npm run fault:crash -- --short                        # CI: 20 kills, 3 server crashes
//   npm run fault:crash -- --kills 20 --server-crashes 0  # counts of your own (0 skips a part)
import { parseArgs } from 'node:util';
import { formatCounts, problemCount } from './crash-checks.js';
import { runEmbeddedKills } from './embedded-kills.js';
import { runServerCrashes } from './server-crashes.js';

const FULL = { kills: 200, serverCrashes: 20 };
const SHORT = { kills: 20, serverCrashes: 3 };
/** The throwaway cluster's port; pick another with --port when this one is taken. */
const PORT_DEFAULT = 5466;

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    kills: { type: 'string' },
    'server-crashes': { type: 'string' },
    port: { type: 'string', default: String(PORT_DEFAULT) },
  },
});

function count(text, fallback, name) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`--${name} must be a whole number ≥ 0, got ${text}`);
  return value;
}

const preset = values.short ? SHORT : FULL;
const kills = count(values.kills, preset.kills, 'kills');
const serverCrashes = count(values['server-crashes'], preset.serverCrashes, 'server-crashes');
const port = count(values.port, PORT_DEFAULT, 'port');
const progress = (line) => process.stderr.write(`${line}\n`);

function minutes(ms) {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

let failed = false;
async function runPart(label, crashCount, body) {
  if (crashCount === 0) return;
  const started = Date.now();
  const counts = await body();
  failed ||= problemCount(counts) > 0;
  console.log(`${formatCounts(crashCount, counts)}  (${label}, ${minutes(Date.now() - started)})`);
}

await runPart('embedded PGlite folder, kill -9 of the writer', kills, () =>
  runEmbeddedKills({ kills, progress }),
);
await runPart('PostgreSQL 15 cluster, stop -m immediate and kill -9 of the postmaster', serverCrashes, () =>
  runServerCrashes({ crashes: serverCrashes, port, progress }),
);
process.exitCode = failed ? 1 : 0;

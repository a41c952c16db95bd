// The checks run after every crash and at the end, through the library's own reads:
// every acknowledged run is stored with exactly the acknowledged content (lost, altered), each
// project's seq runs 1, 2, 3… and links to the entry before it (gaps), no two entries share a
// prev_hash (forks), and verifyLedger re-derives every hash.
import { contentHash } from './acknowledgements.js';

export function emptyCounts() {
  return { acknowledged: 0, lost: 0, altered: 0, gaps: 0, forks: 0 };
}

/** Reads each project's whole chain; returns run_id → content hash and counts gaps and forks. */
async function readChains(ledger, projects, counts, problems) {
  const stored = new Map();
  for (const projectId of projects) {
    const prevHashes = new Set();
    let expectedSeq = 1;
    let previous = null;
    for await (const entry of ledger.streamExecutions({ projectId, batchSize: 1000 })) {
      if (entry.seq !== expectedSeq || (previous !== null && entry.prev_hash !== previous.entry_hash)) {
        counts.gaps += 1;
        problems.push(
          `${projectId}: seq ${entry.seq} follows seq ${previous?.seq ?? 0} without linking to it`,
        );
      }
      if (prevHashes.has(entry.prev_hash)) {
        counts.forks += 1;
        problems.push(`${projectId}: seq ${entry.seq} shares its prev_hash with an earlier entry`);
      }
      prevHashes.add(entry.prev_hash);
      stored.set(entry.run_id, contentHash(entry));
      expectedSeq = entry.seq + 1;
      previous = entry;
    }
    const report = await ledger.verifyLedger(projectId);
    if (!report.ok) {
      counts.altered += 1;
      problems.push(`${projectId}: verifyLedger fails at seq ${report.first_bad_seq}: ${report.reason}`);
    }
  }
  return stored;
}

/**
 * Checks the given projects against the acknowledgements that name them. Returns the counts and
 * a description of each problem (printed by the caller, so that a loss can be looked into).
 */
export async function checkLedger(ledger, projects, acknowledgements) {
  const counts = emptyCounts();
  const problems = [];
  const stored = await readChains(ledger, projects, counts, problems);
  const wanted = new Set(projects);
  const seen = new Set();
  for (const ack of acknowledgements) {
    if (!wanted.has(ack.project_id) || seen.has(ack.run_id)) continue;
    seen.add(ack.run_id);
    counts.acknowledged += 1;
    const hash = stored.get(ack.run_id);
    if (hash === undefined) {
      counts.lost += 1;
      problems.push(`${ack.project_id}: acknowledged run ${ack.run_id} is missing`);
    } else if (hash !== ack.hash) {
      counts.altered += 1;
      problems.push(`${ack.project_id}: run ${ack.run_id} differs from what was acknowledged`);
    }
  }
  return { counts, problems };
}

/** The summary line the suite prints per part. */
export function formatCounts(kills, counts) {
  return (
    `kills ${kills}, acknowledged ${counts.acknowledged}, lost ${counts.lost}, ` +
    `altered ${counts.altered}, gaps ${counts.gaps}, forks ${counts.forks}`
  );
}

export function problemCount(counts) {
  return counts.lost + counts.altered + counts.gaps + counts.forks;
}

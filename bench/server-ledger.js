import { createLedger } from 'execution-ledger';

/**
 * The bench database starts empty each time: drop the ledger's schema (never elsewhere). A
 * ledger that kept the runs of every earlier benchmark would be measured against a plain table
 * a fraction of its size.
 */
export async function resetServerLedger(url) {
  if (!new URL(url).pathname.includes('bench')) {
    throw new Error(
      `refusing to reset ${new URL(url).pathname}: the benchmark only empties a database named *bench*`,
    );
  }
  const ledger = createLedger({ database: url, migrate: false });
  const database = await ledger.database();
  await database.query('drop schema if exists execution_ledger cascade');
  await ledger.close();
}

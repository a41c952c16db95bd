import type { Queryable } from './database.js';
import { namedSql } from './named-sql.js';

/** Where reads that may lag are served from, and how far behind the primary they are. */
export interface ReadLag {
  /** `standby`: the read database is a server in recovery (a streaming standby); `primary` otherwise. */
  source: 'primary' | 'standby';
  /**
   * Milliseconds the read database's data is behind the primary: 0 on the primary, and on a
   * standby that has replayed all it received; otherwise the time since the last transaction it
   * replayed was committed on the primary. null when a standby has replayed nothing yet.
   */
  lag_ms: number | null;
  /** When the lag was measured (ISO 8601). */
  measured_at: string;
}

// A standby idle because the primary is idle has replayed everything it received: its lag is 0,
// not the growing age of the last replayed commit. Otherwise the age of that commit is the lag.
const READ_LAG = namedSql(
  `select pg_is_in_recovery() as standby,
     case
       when not pg_is_in_recovery() then 0::float8
       when pg_last_wal_receive_lsn() is not null and pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0::float8
       else extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000
     end as lag_ms`,
);

export async function measureReadLag(q: Queryable): Promise<ReadLag> {
  const [row] = await q.query<{ standby: boolean; lag_ms: number | string | null }>(READ_LAG);
  const lag = row?.lag_ms === null || row?.lag_ms === undefined ? null : Math.max(0, Number(row.lag_ms));
  return {
    source: row?.standby === true ? 'standby' : 'primary',
    lag_ms: lag === null ? null : Math.round(lag * 1000) / 1000,
    measured_at: new Date().toISOString(),
  };
}

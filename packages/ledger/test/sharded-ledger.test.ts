import {
  connstr,
  expectLedgerError,
  makeExecution,
  present,
  shardingSkipReason,
  withDatabase,
} from '@execution-ledger/test-support';
import {
  createLedger,
  createShardedLedger,
  type ExecutionInput,
  LedgerError,
  migrateShardCatalog,
  type RecordedExecution,
  type ShardedLedger,
} from 'execution-ledger';
import { grantRuntimeRole } from 'execution-ledger/database';
import { generateSigningKey } from 'execution-ledger/verify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// ShardedLedger on real PostgreSQL with PL/Proxy: a catalog database and three shard databases
// (plus a shard that is down), all on the test server, created for this file and dropped after.
// Sharding needs a server: there is no embedded run of this suite.
const runtimeUrl = process.env.TEST_DATABASE_URL;
const ownerUrl = process.env.TEST_OWNER_DATABASE_URL;
const adminUrl = process.env.TEST_ADMIN_DATABASE_URL;

const reason = await shardingSkipReason();
if (reason !== null) console.warn(`sharded-ledger.test.ts skipped: ${reason}`);

describe.skipIf(reason !== null)('ShardedLedger over PL/Proxy', () => {
  const base = new URL(runtimeUrl ?? 'postgres://x/ledger').pathname.slice(1).slice(0, 40);
  const names = { catalog: `${base}_shcat`, shards: [`${base}_sh0`, `${base}_sh1`, `${base}_sh2`] };
  const shardNames = ['s0', 's1', 's2'];
  const runtimeRole = decodeURIComponent(new URL(runtimeUrl ?? 'postgres://x/y').username);
  const ownerRole = decodeURIComponent(new URL(ownerUrl ?? 'postgres://x/y').username);
  // A server nobody listens on: the dead shard.
  const deadUrl = 'postgres://ledger_runtime:ledger_runtime@127.0.0.1:1/dead';
  let admin: pg.Client;
  let router: ShardedLedger;
  let owner: ShardedLedger;
  const opened: ShardedLedger[] = [];
  const suffix = Date.now().toString(36);
  const project = (name: string) => `shard-${name}-${suffix}`;

  function options(url: string, extra: Record<string, string> = {}) {
    return {
      catalog: withDatabase(url, names.catalog),
      shards: {
        ...Object.fromEntries(
          shardNames.map((name, index) => [name, withDatabase(url, present(names.shards[index]))]),
        ),
        ...extra,
      },
      migrate: false as const,
      databaseConnectTimeoutMs: 2_000,
    };
  }

  function open(url: string, extra: Record<string, string> = {}): ShardedLedger {
    const ledger = createShardedLedger(options(url, extra));
    opened.push(ledger);
    return ledger;
  }

  async function dropAll(): Promise<void> {
    for (const database of [names.catalog, ...names.shards])
      await admin.query(`drop database if exists ${database} with (force)`);
  }

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await dropAll();
    for (const database of [names.catalog, ...names.shards])
      await admin.query(`create database ${database} owner ${ownerRole}`);
    for (const database of names.shards) {
      const shardOwner = createLedger({ database: withDatabase(present(ownerUrl), database), poolSize: 1 });
      try {
        await shardOwner.migrate();
        await grantRuntimeRole(await shardOwner.database(), runtimeRole);
      } finally {
        await shardOwner.close();
      }
    }
    await migrateShardCatalog(withDatabase(present(adminUrl), names.catalog));
    const catalog = new pg.Client({ connectionString: withDatabase(present(adminUrl), names.catalog) });
    await catalog.connect();
    try {
      await catalog.query(`grant execution_ledger_router to ${runtimeRole}`);
      await catalog.query(`grant execution_ledger_shard_admin to ${ownerRole}`);
    } finally {
      await catalog.end();
    }
    owner = open(present(ownerUrl));
    for (const [index, name] of shardNames.entries())
      await owner.addShard(name, connstr(present(runtimeUrl), present(names.shards[index])));
    router = open(present(runtimeUrl));
    await router.ready();
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(opened.map((ledger) => ledger.close()));
    if (admin !== undefined) {
      await dropAll().catch(() => undefined);
      await admin.end();
    }
  }, 60_000);

  const acknowledged: RecordedExecution[] = [];
  const inputs = new Map<string, ExecutionInput>();

  async function append(projectId: string, index: number, via = router): Promise<RecordedExecution> {
    const total = 10 + ((index * 37) % 113) + 0.125;
    const input = makeExecution(projectId, {
      agent_id: ['planner', 'coder'][index % 2] ?? 'planner',
      user_id: `user-${index % 3}`,
      cost: { total, breakdown: { tokens: total - 2, toolCalls: 2 } },
      ...(index % 5 === 4 ? { status: 'failed' as const, error_message: 'tool timed out' } : {}),
    });
    const recorded = await via.recordExecution(input);
    acknowledged.push(recorded);
    inputs.set(recorded.run_id, input);
    return recorded;
  }

  const projects = Array.from({ length: 12 }, (_, index) => project(`p${index}`));

  it('places each project on one shard, appends there, and spreads projects over the shards', async () => {
    for (let round = 0; round < 3; round += 1)
      await Promise.all(projects.map((projectId, index) => append(projectId, round * 12 + index)));
    const used = new Set<string>();
    for (const projectId of projects) {
      const shard = present(await router.shardOf(projectId), `the shard of ${projectId}`);
      used.add(shard);
      for (const other of shardNames) {
        const list = await router.shard(other).listExecutions({ projectId }, { limit: 10 });
        expect(list.data.length, `${projectId} on ${other}`).toBe(other === shard ? 3 : 0);
      }
    }
    expect(used.size).toBeGreaterThan(1);
    expect(await router.shardOf(project('never-appended'))).toBeNull();
  });

  it('verifies every chain on the shard that holds it', async () => {
    const report = await router.verifyAll();
    expect(report.ok).toBe(true);
    expect(report.failures).toEqual([]);
    const mine = (await router.listProjects()).filter((summary) => projects.includes(summary.project_id));
    expect(mine.map((summary) => summary.entries)).toEqual(projects.map(() => 3));
    expect(report.entries).toBeGreaterThanOrEqual(36);
  });

  it('merges statistics across shards exactly as a recomputation over every run', async () => {
    const runs = acknowledged.filter((record) => projects.includes(record.project_id));
    const micros = (value: number) => Math.round(value * 1_000_000);
    for (const agent of ['planner', 'coder']) {
      const mine = runs.filter((record) => record.agent_id === agent);
      const stats = await router.getAgentCostStats(agent);
      const costs = mine.map((record) => record.cost_json.total);
      // Other files' runs do not reach these databases: the shards hold this file's runs only.
      expect(stats.count).toBe(mine.length);
      expect(micros(stats.total_cost)).toBe(costs.reduce((sum, cost) => sum + micros(cost), 0));
      expect(stats.min_cost).toBe(Math.min(...costs));
      expect(stats.max_cost).toBe(Math.max(...costs));
    }
    const parts = await router.getCostByPart();
    expect(parts.count).toBe(acknowledged.length);
    expect(micros(parts.total_cost)).toBe(
      acknowledged.reduce((sum, r) => sum + micros(r.cost_json.total), 0),
    );
    expect(micros(present(parts.parts.toolCalls))).toBe(acknowledged.length * 2_000_000);

    const byUser = await router.getCostByUser();
    const expected = new Map<string, { count: number; total: number }>();
    for (const record of acknowledged) {
      const entry = expected.get(record.user_id) ?? { count: 0, total: 0 };
      entry.count += 1;
      entry.total += micros(record.cost_json.total);
      expected.set(record.user_id, entry);
    }
    expect(byUser.map((row) => [row.user_id, row.count, micros(row.total_cost)]).sort()).toEqual(
      [...expected].map(([user, entry]) => [user, entry.count, entry.total]).sort(),
    );
    expect(byUser.map((row) => row.total_cost)).toEqual(
      [...byUser.map((row) => row.total_cost)].sort((a, b) => b - a),
    );
    expect((await router.getCostByUser({ limit: 1 })).length).toBe(1);

    const day = new Date(
      Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()),
    );
    const start = new Date(day.getTime() - 86_400_000);
    const end = new Date(day.getTime() + 2 * 86_400_000);
    const series = await router.getCostTimeSeries({ bucket: 'day', groupBy: 'agent', start, end });
    expect(series.points.length).toBe(3 * 2);
    for (const point of series.points) {
      const mine = acknowledged.filter(
        (record) =>
          record.agent_id === point.key && record.created_at.slice(0, 10) === point.bucket_start.slice(0, 10),
      );
      const costs = mine.map((record) => record.cost_json.total);
      expect(point.count, `${point.bucket_start} ${point.key}`).toBe(mine.length);
      expect(micros(point.total_cost)).toBe(costs.reduce((sum, cost) => sum + micros(cost), 0));
      expect(point.min_cost).toBe(costs.length === 0 ? 0 : Math.min(...costs));
      expect(point.max_cost).toBe(costs.length === 0 ? 0 : Math.max(...costs));
    }

    const failed = await router.getFailedExecutions(undefined, 100);
    expect(failed.map((record) => record.run_id).sort()).toEqual(
      acknowledged
        .filter((record) => record.status === 'failed')
        .map((record) => record.run_id)
        .sort(),
    );
  });

  it('gives exact percentiles per project and refuses to merge them across shards', async () => {
    const projectId = present(projects[0]);
    const shard = router.shard(present(await router.shardOf(projectId)));
    expect(await router.getExecutionPercentiles({ projectId })).toEqual(
      await shard.getExecutionPercentiles({ projectId }),
    );
    const error = await expectLedgerError(router.getExecutionPercentiles({}), 'VALIDATION_FAILED');
    expect(error.field).toBe('projectId');
    expect(error.message).toMatch(/not merged across shards/);
  });

  it('moves a project while appends go on: nothing lost, nothing left on the old shard after the switch', async () => {
    const projectId = present(projects[1]);
    for (let index = 0; index < 40; index += 1) await append(projectId, 100 + index);
    const from = present(await router.shardOf(projectId));
    const to = present(shardNames.find((name) => name !== from));
    // The project keeps its days in Kolkata: the zone moves with it.
    await router.shard(from).addRollupTimeZone(projectId, 'Asia/Kolkata');
    // A second process that cached the placement before the move.
    const stale = open(present(runtimeUrl));
    await append(projectId, 200, stale);

    let stop = false;
    const during: Promise<RecordedExecution[]> = (async () => {
      const done: RecordedExecution[] = [];
      for (let index = 0; !stop || done.length < 5; index += 1)
        done.push(await append(projectId, 300 + index));
      return done;
    })();
    const report = await owner.moveProject(projectId, to, { batchSize: 7 });
    stop = true;
    const appendedDuring = await during;
    expect(report).toMatchObject({ project_id: projectId, from, to });
    expect(report.entries).toBeGreaterThanOrEqual(44);
    expect(await router.shardOf(projectId)).toBe(to);

    // The stale placement is refused by the old shard, re-read, and the append lands on the new one.
    const late = await append(projectId, 400, stale);
    expect(await stale.shard(to).getExecutionByRunId(late.run_id, { projectId })).not.toBeNull();
    expect(await stale.shard(from).getExecutionByRunId(late.run_id, { projectId })).toBeNull();

    const target = router.shard(to);
    const mine = acknowledged.filter((record) => record.project_id === projectId);
    for (const record of mine)
      expect(await target.getExecutionByRunId(record.run_id, { projectId }), record.run_id).not.toBeNull();
    const verification = await target.verifyLedger(projectId);
    expect(verification.ok).toBe(true);
    expect(verification.entries_checked).toBe(mine.length);
    expect((await target.listRollupTimeZones(projectId)).map((zone) => zone.time_zone)).toEqual([
      'Asia/Kolkata',
    ]);
    const rollups = await target.verifyRollups(projectId);
    expect(rollups.ok).toBe(true);
    expect(rollups.levels.find((level) => level.level === 'zone_day')?.groups_checked).toBeGreaterThan(0);
    expect(appendedDuring.length).toBeGreaterThanOrEqual(5);
    // The old shard keeps its copy, frozen at the switch, and takes no more entries of the project.
    const oldHead = (await router.shard(from).listExecutions({ projectId }, { limit: 1000 })).data.length;
    expect(oldHead).toBeLessThan(mine.length);
    const refused = await expectLedgerError(
      router.shard(from).recordExecution(makeExecution(projectId)),
      'DATABASE_UNAVAILABLE',
    );
    expect(refused.details?.sqlstate).toBe('EL005');
    expect(refused.message).toMatch(new RegExp(`moved to shard ${to}`));
    // Cross-project reads count the moved project once.
    const listed = (await router.listProjects()).filter((summary) => summary.project_id === projectId);
    expect(listed).toEqual([expect.objectContaining({ shard: to, entries: mine.length })]);
    expect((await router.verifyAll()).ok).toBe(true);

    // Back to the shard it left: the seal there is lifted, and appends go there again.
    const back = await owner.moveProject(projectId, from);
    expect(back.to).toBe(from);
    const again = await append(projectId, 500, stale);
    expect(await router.shard(from).getExecutionByRunId(again.run_id, { projectId })).not.toBeNull();
    expect((await router.shard(from).verifyLedger(projectId)).ok).toBe(true);
    await expectLedgerError(
      router.shard(to).recordExecution(makeExecution(projectId)),
      'DATABASE_UNAVAILABLE',
    );
  }, 120_000);

  it('reads a project from the cached placement; a stale one never answers from the copy the project left', async () => {
    const projectId = present(projects[4]);
    for (let index = 0; index < 6; index += 1) await append(projectId, 600 + index);
    const count = () => acknowledged.filter((record) => record.project_id === projectId).length;
    // A second process that read the project before the move, and a project-scoped ledger it kept.
    const reader = open(present(runtimeUrl));
    const scoped = await reader.forProject(projectId);
    expect((await scoped.listExecutionsByProject(projectId, 1000)).data.length).toBe(count());
    const from = present(await router.shardOf(projectId));
    const to = present(shardNames.find((name) => name !== from));

    // The catalog is asked once: a placement row changed behind the reader's back is not read again.
    const catalog = new pg.Client({ connectionString: withDatabase(present(adminUrl), names.catalog) });
    await catalog.connect();
    const placeOn = (name: string) =>
      catalog.query(
        `update execution_ledger_shards.placement p set shard = s.position
         from execution_ledger_shards.shards s where s.name = $2 and p.project_id = $1`,
        [projectId, name],
      );
    try {
      await placeOn(to);
      expect(await reader.shardOf(projectId)).toBe(to);
      expect((await scoped.getProjectExecutionStats(projectId)).total_executions).toBe(count());
      expect((await reader.getProjectExecutionStats(projectId)).total_executions).toBe(count());
    } finally {
      await placeOn(from);
      await catalog.end();
    }

    // A stream that began before the move, one run per batch.
    const stream = scoped.streamExecutions({ projectId, batchSize: 1 });
    expect((await stream.next()).done).toBe(false);

    await owner.moveProject(projectId, to);
    await append(projectId, 700);
    // Every read of the process that cached the old shard answers the whole chain, from the new one.
    expect((await scoped.listExecutionsByProject(projectId, 1000)).data.length).toBe(count());
    expect((await reader.getProjectExecutionStats(projectId)).total_executions).toBe(count());
    const verified = await reader.verifyLedger(projectId);
    expect(verified).toMatchObject({ ok: true, entries_checked: count() });
    const late = present(acknowledged[acknowledged.length - 1]);
    expect(await scoped.getExecutionByRunId(late.run_id)).toMatchObject({ run_id: late.run_id });
    expect(await scoped.reads.getExecutionByRunId(late.run_id)).toMatchObject({ run_id: late.run_id });
    // Without a project every shard is asked; the copy the move left is sealed and not counted.
    const early = present(acknowledged.find((record) => record.project_id === projectId));
    expect(await reader.getExecutionByRunId(early.run_id)).toMatchObject({
      run_id: early.run_id,
      seq: early.seq,
    });
    expect(await reader.getExecutionByRunId(late.run_id)).toMatchObject({ run_id: late.run_id });
    expect(await reader.getExecutionByRunId(`${projectId}-never-recorded`)).toBeNull();
    // requireExecution: the run from the shard that holds it, and the library's NOT_FOUND for none.
    expect(await reader.requireExecution(early.run_id)).toMatchObject({
      run_id: early.run_id,
      seq: early.seq,
    });
    await expectLedgerError(reader.requireExecution(`${projectId}-never-recorded`), 'NOT_FOUND', 'run_id');
    let exported = '';
    for await (const chunk of scoped.exportNdjsonStream({ projectId })) exported += String(chunk);
    expect(exported.trim().split('\n').length).toBe(count());
    // A bad export is refused at the call, before a stream exists, as on one server.
    expect(() => scoped.exportStream('no-such-format', { projectId })).toThrow(LedgerError);
    // The placement it cached now names the new shard.
    expect(await reader.shardOf(projectId)).toBe(to);
    const stale = await (await open(present(runtimeUrl)).forProject(projectId)).listExecutionsByProject(
      projectId,
      1000,
    );
    expect(stale.data.length).toBe(count());

    // The stream the move overtook reads the old shard's frozen copy to its end, then fails
    // rather than end short.
    const error = await (async () => {
      try {
        for (let next = await stream.next(); next.done !== true; next = await stream.next());
        return null;
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe('DATABASE_UNAVAILABLE');
    expect((error as LedgerError).message).toMatch(
      new RegExp(`moved off shard ${from} while it was streamed`),
    );
    // A stream begun after the move reads the new shard whole.
    let streamed = 0;
    for await (const _ of scoped.streamExecutions({ projectId, batchSize: 3 })) streamed += 1;
    expect(streamed).toBe(count());
  }, 120_000);

  it('refuses a move to a shard it does not know, or to the shard that holds the project', async () => {
    const projectId = present(projects[2]);
    expect(
      (await expectLedgerError(owner.moveProject(projectId, 'nowhere'), 'VALIDATION_FAILED')).field,
    ).toBe('shard');
    const here = present(await owner.shardOf(projectId));
    expect((await expectLedgerError(owner.moveProject(projectId, here), 'VALIDATION_FAILED')).field).toBe(
      'to',
    );
    expect(
      (await expectLedgerError(owner.moveProject(projectId, here, { batchSize: 0 }), 'VALIDATION_FAILED'))
        .field,
    ).toBe('batchSize');
  });

  it('signs a checkpoint over every shard heads, and it verifies', async () => {
    const key = generateSigningKey('shard-test');
    const { created, checkpoint } = await owner.createCheckpoint({ privateKey: key.privateKeyText });
    expect(created).toBe(true);
    const placed = await router.listProjects();
    expect(checkpoint.tree_size).toBe(placed.length);
    for (const summary of placed) {
      const head = checkpoint.heads.find((candidate) => candidate.project_id === summary.project_id);
      expect(head, summary.project_id).toMatchObject({ shard: summary.shard, seq: summary.entries });
    }
    expect(await router.verifyCheckpoint(key.publicKeyText)).toMatchObject({ ok: true, problems: [] });
    const other = generateSigningKey('shard-test');
    expect((await router.verifyCheckpoint(other.publicKeyText)).ok).toBe(false);
  });

  it('answers DATABASE_UNAVAILABLE naming a dead shard, while other shards keep working', async () => {
    await open(present(ownerUrl), { dead: deadUrl }).addShard(
      'dead',
      'host=127.0.0.1 port=1 dbname=dead user=x',
      {
        takesNewProjects: false,
      },
    );
    const catalog = new pg.Client({ connectionString: withDatabase(present(adminUrl), names.catalog) });
    await catalog.connect();
    const doomed = project('on-dead');
    try {
      await catalog.query(
        `insert into execution_ledger_shards.placement (project_id, shard)
         select $1, s.position from execution_ledger_shards.shards s where s.name = 'dead'`,
        [doomed],
      );
    } finally {
      await catalog.end();
    }
    const withDead = open(present(runtimeUrl), { dead: deadUrl });
    const error = await expectLedgerError(
      withDead.recordExecution(makeExecution(doomed)),
      'DATABASE_UNAVAILABLE',
    );
    expect(error.message).toMatch(/^shard dead is unavailable/);
    expect(error.details?.shard).toBe('dead');
    expect(error).toBeInstanceOf(LedgerError);
    // Other projects append and read as before.
    const alive = await append(present(projects[3]), 900, withDead);
    expect(alive.replayed).toBe(false);
    expect(await withDead.getExecutionByRunId(alive.run_id, { projectId: alive.project_id })).not.toBeNull();
    // Reads of every shard say which one is down.
    const across = await expectLedgerError(withDead.getAgentCostStats('planner'), 'DATABASE_UNAVAILABLE');
    expect(across.details?.shard).toBe('dead');
    // With no shard taking new projects, a new project cannot be placed: a clear refusal, nothing placed.
    const closed = new pg.Client({ connectionString: withDatabase(present(adminUrl), names.catalog) });
    await closed.connect();
    try {
      await closed.query('update execution_ledger_shards.shards set takes_new_projects = false');
      const homeless = project('homeless');
      const refused = await expectLedgerError(
        withDead.recordExecution(makeExecution(homeless)),
        'VALIDATION_FAILED',
      );
      expect(refused.field).toBe('shards');
      expect(refused.message).toMatch(/no shard takes new projects/);
      expect(await withDead.shardOf(homeless)).toBeNull();
    } finally {
      await closed.end();
    }
    // A ledger not given the dead shard's URL refuses the catalog's shard list, naming the field.
    const blind = open(present(runtimeUrl));
    expect((await expectLedgerError(blind.ready(), 'VALIDATION_FAILED')).field).toBe('shards');
  }, 60_000);
});

import { Readable } from 'node:stream';
import { type ExecutionReader, type Ledger, LedgerError, type ShardedLedger } from 'execution-ledger';

/**
 * The service's ledger when its projects are sharded (docs/scaling.md, "A sharded service"): a
 * Ledger whose appends and project-scoped reads go to the project's shard through the
 * ShardedLedger, whose cross-project statistics are the ShardedLedger's exact merges, and whose
 * own state (API keys, verification log, OTLP staging, migrations, role checks, read lag) stays
 * in the service's home database. Everything else answers NOT_SHARDED, naming what to do
 * instead: nothing falls through to the home database, whose executions table is empty, so no
 * route answers from the wrong place.
 */
export function shardedServiceLedger(home: Ledger, sharded: ShardedLedger): Ledger {
  const reader = routedReader(home, sharded);
  const operations = guarded(home.operations, 'operations', {
    listProjects: async () => (await sharded.listProjects()).map(({ shard: _shard, ...project }) => project),
    schemaStatus: () => home.operations.schemaStatus(),
    assertRuntimeRole: () => home.operations.assertRuntimeRole(),
    reviewRuntimeRole: () => home.operations.reviewRuntimeRole(),
    grantRuntimeRole: (role: string) => home.operations.grantRuntimeRole(role),
  });
  const checkpoints = (): never => {
    throw notSharded(
      'checkpoints',
      'a sharded deployment signs its checkpoints over every shard’s heads, kept in the shard catalog',
      'sign them with `execution-ledger shards checkpoint` (docs/scaling.md)',
    );
  };
  const members: Record<string, unknown> = {
    ...reader,
    recordExecution: (execution: Parameters<Ledger['recordExecution']>[0]) =>
      sharded.recordExecution(execution),
    recordExecutions: (executions: Parameters<Ledger['recordExecutions']>[0]) =>
      sharded.recordExecutions(executions),
    verifyLedger: (projectId: string, options?: Parameters<Ledger['verifyLedger']>[1]) =>
      sharded.verifyLedger(projectId, options),
    ready: () => home.ready(),
    migrate: () => home.migrate(),
    readLag: () => home.readLag(),
    ownedSchema: (set: Parameters<Ledger['ownedSchema']>[0]) => home.ownedSchema(set),
    database: () => home.database(),
    close: async () => {
      await Promise.allSettled([sharded.close(), home.close()]);
    },
    reads: undefined,
    createCheckpoint: checkpoints,
    getCheckpoint: checkpoints,
    proveProject: checkpoints,
    proveConsistency: checkpoints,
    operations,
    limits: home.limits,
    budgets: guarded(home.budgets, 'budgets', {}),
    events: guarded(home.events, 'events', {}),
    webhooks: guarded(home.webhooks, 'webhooks', {}),
    anomalies: guarded(home.anomalies, 'anomaly detection', {}),
    blobs: guarded(home.blobs, 'replay blobs', {}),
  };
  const ledger = guarded(home, 'this operation', members);
  members.reads = ledger;
  return ledger;
}

/** The reads every route and dashboard page uses, routed by project or merged over the shards. */
function routedReader(home: Ledger, sharded: ShardedLedger): Partial<Record<keyof ExecutionReader, unknown>> {
  type Reader = ExecutionReader;
  const onProject = async <T>(projectId: string, read: (ledger: Ledger) => Promise<T>): Promise<T> =>
    read(await sharded.forProject(projectId));
  const needsProject = (what: string, projectId: string | undefined): string => {
    if (projectId === undefined)
      throw notSharded(
        what,
        'each shard would answer only for its own projects, and their answers cannot be merged exactly',
        'give project_id (the shard that holds the project answers)',
        'project_id',
      );
    return projectId;
  };
  const lineage = (): never => {
    throw notSharded(
      'lineage',
      'a run tree may link runs of several projects, placed on different shards, and a tree read on one shard would miss them',
      'read the tree through each shard’s own service, or keep a tree’s projects on one shard',
    );
  };
  return {
    getExecutionByRunId: (runId: string, options?: { projectId?: string }) =>
      sharded.getExecutionByRunId(runId, options),
    requireExecution: (runId: string) => sharded.requireExecution(runId),
    getProjectExecutionStats: (projectId: string, start?: Date, end?: Date) =>
      sharded.getProjectExecutionStats(projectId, start, end),
    getAgentCostStats: (agentId: string, projectId?: string, start?: Date, end?: Date) =>
      sharded.getAgentCostStats(agentId, projectId, start, end),
    getFailedExecutions: (projectId?: string, limit?: number) =>
      sharded.getFailedExecutions(projectId, limit),
    getExecutionPercentiles: (filter: Parameters<Reader['getExecutionPercentiles']>[0] = {}) =>
      filter.projectId === undefined
        ? Promise.reject(
            notSharded(
              'percentiles across projects',
              'a nearest-rank percentile needs every value, and no shard’s answer carries them',
              'give project_id: the percentiles of one project are exact, read on its shard',
              'project_id',
            ),
          )
        : sharded.getExecutionPercentiles(filter),
    getCostTimeSeries: (options: Parameters<Reader['getCostTimeSeries']>[0]) =>
      sharded.getCostTimeSeries(options),
    getCostByPart: (filter?: Parameters<Reader['getCostByPart']>[0]) => sharded.getCostByPart(filter),
    getCostByUser: (options?: Parameters<Reader['getCostByUser']>[0]) => sharded.getCostByUser(options),
    listExecutions: async (...args: Parameters<Reader['listExecutions']>) => {
      const projectId = needsProject('a list of runs across projects', args[0]?.projectId);
      return onProject(projectId, (ledger) => ledger.listExecutions(...args));
    },
    listExecutionsByProject: (...args: Parameters<Reader['listExecutionsByProject']>) =>
      onProject(args[0], (ledger) => ledger.listExecutionsByProject(...args)),
    listExecutionsByAgent: async (...args: Parameters<Reader['listExecutionsByAgent']>) => {
      const projectId = needsProject("a list of an agent's runs across projects", args[1]);
      return onProject(projectId, (ledger) => ledger.listExecutionsByAgent(...args));
    },
    getCostByTool: async (options: Parameters<Reader['getCostByTool']>[0] = {}) =>
      onProject(needsProject('cost by tool across projects', options.projectId), (ledger) =>
        ledger.getCostByTool(options),
      ),
    getCostByModel: async (options: Parameters<Reader['getCostByModel']>[0] = {}) =>
      onProject(needsProject('cost by model across projects', options.projectId), (ledger) =>
        ledger.getCostByModel(options),
      ),
    getStepCostTimeSeries: async (options: Parameters<Reader['getStepCostTimeSeries']>[0]) =>
      onProject(needsProject('a step cost series across projects', options?.projectId), (ledger) =>
        ledger.getStepCostTimeSeries(options),
      ),
    getMostExpensiveRuns: async (options: Parameters<Reader['getMostExpensiveRuns']>[0] = {}) =>
      onProject(needsProject('the most expensive runs across projects', options.projectId), (ledger) =>
        ledger.getMostExpensiveRuns(options),
      ),
    getRunTree: lineage,
    getAncestors: lineage,
    getDescendants: lineage,
    exportStream: (format: string, options: Parameters<Reader['exportStream']>[1] = {}): Readable => {
      const projectId = needsProject('an export across projects', options.projectId);
      // A bad format, filter or batch size throws here, before a response has its first byte,
      // as on one server: the home ledger checks them (its stream is never read).
      home.exportStream(format, options).destroy();
      return Readable.from(
        (async function* () {
          yield* (await sharded.forProject(projectId)).exportStream(format, options);
        })(),
        { objectMode: false },
      );
    },
  };
}

/**
 * `target`'s members as given in `members`; any other method answers NOT_SHARDED, and any other
 * property reads as undefined (a sub-object nobody listed is not reached by accident).
 */
function guarded<T extends object>(target: T, what: string, members: Record<string, unknown>): T {
  return new Proxy(target, {
    get(object, property) {
      if (typeof property === 'string' && Object.hasOwn(members, property)) return members[property];
      const value: unknown = Reflect.get(object, property, object);
      if (typeof property !== 'string' || typeof value !== 'function') return undefined;
      return () => {
        throw notSharded(
          `${what}.${property}`.replace(/^this operation\./, ''),
          'it keeps its state on each server, and a sharded service has one server per shard',
          'use each shard’s own service or the `execution-ledger shards` commands (docs/scaling.md)',
        );
      };
    },
  });
}

function notSharded(what: string, why: string, how: string, field?: string): LedgerError {
  return new LedgerError(
    'NOT_SHARDED',
    `${what} is not served by a sharded service: ${why}; ${how}`,
    field === undefined ? { details: { sharded: true } } : { field, details: { sharded: true } },
  );
}

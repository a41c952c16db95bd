import { randomBytes } from 'node:crypto';
import type { KeyRole, Permission } from '@execution-ledger/server';
import { makeExecution } from '@execution-ledger/test-support';

/**
 * Who may call each operation of /openapi.json, written by hand. The role × route matrix
 * (role-route-matrix.test.ts) sends every request below with every kind of key and checks the
 * answers against these lines, and checks each line's permission against the one the route
 * declares in its config, so changing either without the other fails the suite.
 */

/** The data the requests point at: project A holds the runs the requests name, B is the other tenant. */
export interface MatrixFixture {
  readonly projectA: string;
  readonly projectB: string;
  /** One agent with runs in both projects, so agent-wide reads would mix them if allowed to. */
  readonly agentId: string;
  readonly runOfA: string;
  readonly runOfB: string;
  readonly checkpointSeq: number;
  /** `start=…&end=…` around the seeded runs. */
  readonly timeRange: string;
  /** The id of a fresh read key bound to these projects (null: every project), for a request that revokes one. */
  newKey(projects: 'A' | 'every project'): Promise<string>;
  /** A budget of project A. */
  readonly budgetOfA: string;
  /** The id of a fresh reservation in project A for runOfA's agent and user. */
  newReservation(): Promise<string>;
  /** The id of a fresh webhook endpoint of project A. */
  newWebhook(): Promise<string>;
}

/** Which projects a key must be bound to for the request to be allowed. */
export type ScopeRule = 'any' | 'project-a' | 'every-project';

/** How the server answers a caller it will not serve. */
export interface Refusal {
  status: number;
  code: string;
}

export interface MatrixRequest {
  /** Says what the request shows, in failure messages; empty for an operation's only request. */
  variant: string;
  scope: ScopeRule;
  /** How a key outside `scope` is refused; default 403 PERMISSION_DENIED. */
  outOfScope?: Refusal;
  /** Path parameters this request fills differently from PATH_PARAMETERS. */
  pathParameters?: Record<string, PathParameter>;
  query?: (fixture: MatrixFixture) => string;
  body?: (fixture: MatrixFixture) => unknown;
  /**
   * An error only a caller past every access check can meet, which therefore counts as granted:
   * a run id taken in another project conflicts, and must say nothing more about that run.
   */
  grantedAs?: Refusal;
  /** Batch appends answer 200 and refuse per item, so their status says nothing about access. */
  batchItems?: true;
}

export interface OperationExpectation {
  permission: Permission | 'public';
  requests: MatrixRequest[];
}

/** What each role may do, restated from access-policy.ts on purpose: a policy change must show up here. */
export const ROLE_PERMISSIONS: Record<KeyRole, readonly Permission[]> = {
  ingest: ['append'],
  read: ['read'],
  admin: ['append', 'read', 'export', 'verify', 'keys', 'budgets', 'allocate'],
};

/** How a key outside a request's scope is refused unless the request says otherwise. */
export const DENIED_OUT_OF_SCOPE: Refusal = { status: 403, code: 'PERMISSION_DENIED' };
const inA = (variant = ''): MatrixRequest => ({ variant, scope: 'project-a' });
const anyProject: MatrixRequest = { variant: '', scope: 'any' };

export type PathParameter = (fixture: MatrixFixture) => string | Promise<string>;

/** Path parameters by name; an operation with a parameter missing here fails the matrix. */
export const PATH_PARAMETERS: Record<string, PathParameter> = {
  projectId: (fixture) => fixture.projectA,
  runId: (fixture) => fixture.runOfA,
  agentId: (fixture) => fixture.agentId,
  seq: (fixture) => String(fixture.checkpointSeq),
  keyId: (fixture) => fixture.newKey('A'),
  budgetId: (fixture) => fixture.budgetOfA,
  reservationId: (fixture) => fixture.newReservation(),
  webhookId: (fixture) => fixture.newWebhook(),
};

/** Keyed by `METHOD /path` exactly as /openapi.json spells it. Add a line with every new route. */
export const ROUTE_EXPECTATIONS: Record<string, OperationExpectation> = {
  'GET /healthz': { permission: 'public', requests: [anyProject] },
  'GET /readyz': { permission: 'public', requests: [anyProject] },
  'POST /v1/executions': {
    permission: 'append',
    requests: [
      { ...inA(), body: (fixture) => makeExecution(fixture.projectA) },
      {
        ...inA('reusing a run id of project B'),
        grantedAs: { status: 409, code: 'RUN_ID_CONFLICT' },
        body: (fixture) => makeExecution(fixture.projectA, { run_id: fixture.runOfB }),
      },
    ],
  },
  'POST /v1/executions/batch': {
    permission: 'append',
    requests: [
      {
        ...inA(),
        batchItems: true,
        body: (fixture) => ({ executions: [makeExecution(fixture.projectA)] }),
      },
    ],
  },
  // OTLP export: the project is the resource attribute; a key not bound to it is refused for every span.
  'POST /v1/traces': {
    permission: 'append',
    requests: [{ ...inA(), body: (fixture) => otlpExport(fixture.projectA) }],
  },
  // A run of a project the key is not bound to answers exactly like a missing run.
  'GET /v1/executions/{runId}': {
    permission: 'read',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'NOT_FOUND' } }],
  },
  'GET /v1/projects/{projectId}/executions': { permission: 'read', requests: [inA()] },
  'GET /v1/agents/{agentId}/executions': {
    permission: 'read',
    requests: [
      { ...inA('in project A'), query: (fixture) => `project_id=${fixture.projectA}` },
      { variant: 'across every project', scope: 'every-project' },
    ],
  },
  'GET /v1/projects/{projectId}/failed': { permission: 'read', requests: [inA()] },
  // Lineage reads a key's projects only: a run elsewhere answers like a missing one.
  'GET /v1/runs/{runId}/tree': {
    permission: 'read',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'NOT_FOUND' } }],
  },
  'GET /v1/runs/{runId}/ancestors': {
    permission: 'read',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'NOT_FOUND' } }],
  },
  'GET /v1/runs/{runId}/descendants': {
    permission: 'read',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'NOT_FOUND' } }],
  },
  'GET /v1/projects/{projectId}/stats': { permission: 'read', requests: [inA()] },
  'GET /v1/agents/{agentId}/stats': {
    permission: 'read',
    requests: [
      { ...inA('in project A'), query: (fixture) => `project_id=${fixture.projectA}` },
      { variant: 'across every project', scope: 'every-project' },
    ],
  },
  'GET /v1/projects/{projectId}/timeseries': {
    permission: 'read',
    requests: [{ ...inA(), query: (fixture) => `bucket=hour&${fixture.timeRange}` }],
  },
  'GET /v1/projects/{projectId}/percentiles': { permission: 'read', requests: [inA()] },
  'GET /v1/projects/{projectId}/costs/by-tool': { permission: 'read', requests: [inA()] },
  'GET /v1/projects/{projectId}/costs/by-model': { permission: 'read', requests: [inA()] },
  'GET /v1/projects/{projectId}/costs/by-user': { permission: 'read', requests: [inA()] },
  'GET /v1/projects/{projectId}/costs/top-runs': { permission: 'read', requests: [inA()] },
  'GET /v1/projects/{projectId}/costs/timeseries': {
    permission: 'read',
    requests: [{ ...inA(), query: (fixture) => `group_by=tool&bucket=hour&${fixture.timeRange}` }],
  },
  // Allocation spans every project.
  'GET /v1/allocation/report': {
    permission: 'read',
    requests: [
      {
        variant: '',
        scope: 'every-project',
        // Before any rule set is published the report is 404, past every access check.
        grantedAs: { status: 404, code: 'RULE_SET_NOT_FOUND' },
        query: () => 'period=2026-01',
      },
    ],
  },
  'POST /v1/allocation/rule-sets': {
    permission: 'allocate',
    requests: [
      {
        variant: '',
        scope: 'every-project',
        body: () => ({
          effective_from: '2026-01-01',
          rules: [
            { id: 'r', source: { pool: 'p', amount: 1 }, method: 'even', targets: [{ cost_center: 'a' }] },
          ],
        }),
      },
    ],
  },
  'GET /v1/projects/{projectId}/export': {
    permission: 'export',
    requests: [{ ...inA(), query: () => 'format=ndjson' }],
  },
  'POST /v1/projects/{projectId}/verify': { permission: 'verify', requests: [inA()] },
  // Checkpoints name no project, so any read key may fetch them.
  'GET /v1/checkpoints/latest': { permission: 'read', requests: [anyProject] },
  'GET /v1/checkpoints/{seq}': { permission: 'read', requests: [anyProject] },
  // A project the key is not bound to answers like a project the checkpoint does not hold.
  'GET /v1/projects/{projectId}/proof': {
    permission: 'read',
    requests: [
      {
        ...inA(),
        outOfScope: { status: 404, code: 'PROOF_NOT_FOUND' },
        query: (fixture) => `checkpoint=${fixture.checkpointSeq}`,
      },
    ],
  },
  // A key may hand out only the projects it holds itself.
  'POST /v1/keys': {
    permission: 'keys',
    requests: [
      {
        ...inA(),
        body: (fixture) => ({ name: 'matrix created', role: 'read', projects: [fixture.projectA] }),
      },
      {
        variant: 'for every project',
        scope: 'every-project',
        body: () => ({ name: 'matrix created', role: 'read', projects: null }),
      },
    ],
  },
  // Listing is filtered to the keys within the caller's projects, which the leak check covers.
  'GET /v1/keys': { permission: 'keys', requests: [anyProject] },
  // A key outside the caller's projects answers exactly like a missing one.
  'POST /v1/keys/{keyId}/revoke': {
    permission: 'keys',
    requests: [
      { ...inA('a key bound to A'), outOfScope: { status: 404, code: 'API_KEY_NOT_FOUND' } },
      {
        variant: 'a key bound to every project',
        scope: 'every-project',
        outOfScope: { status: 404, code: 'API_KEY_NOT_FOUND' },
        pathParameters: { keyId: (fixture) => fixture.newKey('every project') },
      },
    ],
  },
  'PUT /v1/budgets/{budgetId}': {
    permission: 'budgets',
    requests: [
      {
        ...inA(),
        body: (fixture) => ({
          project_id: fixture.projectA,
          period: 'day',
          limit_cents: 100_000,
          action: 'warn',
        }),
      },
      {
        variant: 'across every project',
        scope: 'every-project',
        pathParameters: { budgetId: (fixture) => `agent-${fixture.agentId}` },
        body: (fixture) => ({
          agent_id: fixture.agentId,
          period: 'total',
          limit_cents: 100_000,
          action: 'warn',
        }),
      },
    ],
  },
  // Listing is filtered to the budgets of the caller's projects, which the leak check covers.
  'GET /v1/budgets': { permission: 'read', requests: [anyProject] },
  'GET /v1/budgets/{budgetId}': {
    permission: 'read',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'BUDGET_NOT_FOUND' } }],
  },
  'POST /v1/budgets/reservations': {
    permission: 'append',
    requests: [
      {
        ...inA(),
        body: (fixture) => ({
          project_id: fixture.projectA,
          agent_id: fixture.agentId,
          user_id: 'user-001',
          estimated_cents: 1,
        }),
      },
    ],
  },
  // A run settles one reservation: callers after the first granted one meet RESERVATION_MISMATCH.
  'POST /v1/budgets/reservations/{reservationId}/settle': {
    permission: 'append',
    requests: [
      {
        ...inA(),
        outOfScope: { status: 404, code: 'RESERVATION_NOT_FOUND' },
        grantedAs: { status: 409, code: 'RESERVATION_MISMATCH' },
        body: (fixture) => ({ run_id: fixture.runOfA }),
      },
    ],
  },
  'POST /v1/budgets/reservations/{reservationId}/release': {
    permission: 'append',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'RESERVATION_NOT_FOUND' } }],
  },
  'GET /v1/events': {
    permission: 'read',
    requests: [
      { ...inA('in project A'), query: (fixture) => `project_id=${fixture.projectA}` },
      { variant: 'across every project', scope: 'every-project' },
    ],
  },
  // Webhook endpoints: admin only; one of every project needs a key of every project.
  'PUT /v1/webhooks/{webhookId}': {
    permission: 'budgets',
    requests: [
      {
        ...inA(),
        body: (fixture) => ({ url: 'http://127.0.0.1:9/hook', project_id: fixture.projectA }),
      },
      {
        variant: 'for every project',
        scope: 'every-project',
        body: () => ({ url: 'http://127.0.0.1:9/hook', project_id: null }),
      },
    ],
  },
  // Listing is filtered to the endpoints of the caller's projects, which the leak check covers.
  'GET /v1/webhooks': { permission: 'budgets', requests: [anyProject] },
  'GET /v1/webhooks/{webhookId}': {
    permission: 'budgets',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'NOT_FOUND' } }],
  },
  'DELETE /v1/webhooks/{webhookId}': {
    permission: 'budgets',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'NOT_FOUND' } }],
  },
};

/**
 * Operations of the document without a line here, and lines for operations it no longer has,
 * each as a message that says what to do.
 */
export function expectationGaps(
  paths: Record<string, Record<string, unknown>>,
  expectations: Record<string, OperationExpectation> = ROUTE_EXPECTATIONS,
): string[] {
  const documented = Object.entries(paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
  const missing = documented
    .filter((operation) => expectations[operation] === undefined)
    .map(
      (operation) =>
        `${operation} is in /openapi.json but not in ROUTE_EXPECTATIONS ` +
        '(test/support/route-expectations.ts): add a line saying which permission and projects it needs',
    );
  const stale = Object.keys(expectations)
    .filter((operation) => !documented.includes(operation))
    .map(
      (operation) => `${operation} is in ROUTE_EXPECTATIONS but no longer in /openapi.json: remove its line`,
    );
  return [...missing, ...stale];
}

/**
 * Routes left out of /openapi.json on purpose, each public and each with the reason; any other
 * undocumented route (HEAD twins of GETs aside) fails the matrix, since it would escape it.
 */
export const HIDDEN_ROUTES: Record<string, string> = {
  'GET /metrics': 'Prometheus metrics, labelled by route pattern, status and error code, never by project',
  'GET /openapi.json': 'the API description itself',
};

/** An OTLP/JSON export of one root span of project `projectId`, with fresh ids. */
function otlpExport(projectId: string) {
  const hex = (bytes: number) => randomBytes(bytes).toString('hex');
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'execution_ledger.project', value: { stringValue: projectId } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: hex(16),
                spanId: hex(8),
                name: 'invoke_agent matrix',
                kind: 1,
                startTimeUnixNano: String(now),
                endTimeUnixNano: String(now + 1_000_000n),
              },
            ],
          },
        ],
      },
    ],
  };
}

/**
 * The dashboard's pages and forms: HTML, so not in /openapi.json, and reached with a session
 * cookie instead of a bearer key. The matrix signs in with every kind of key and sends each
 * request below with that session; a key that cannot sign in (ingest, revoked) has no session,
 * so its requests go to the sign-in page like a request without one. Pages not naming a
 * project show the key's first project: the leak check holds them to the key's projects.
 */
export const DASHBOARD_EXPECTATIONS: Record<string, OperationExpectation> = {
  'GET /sign-in': { permission: 'public', requests: [anyProject] },
  // A wrong key is answered on the sign-in page itself (401 with its message): the form works for anyone.
  'POST /sign-in': {
    permission: 'public',
    requests: [
      {
        ...anyProject,
        grantedAs: { status: 401, code: 'UNAUTHENTICATED' },
        body: () => ({ key: 'not-a-key' }),
      },
    ],
  },
  'POST /sign-out': { permission: 'public', requests: [anyProject] },
  'GET /assets/{name}': { permission: 'public', requests: [anyProject] },
  'GET /': {
    permission: 'read',
    requests: [
      anyProject,
      { ...inA('project A'), query: (fixture) => `project=${fixture.projectA}&group=tool` },
    ],
  },
  'GET /runs': {
    permission: 'read',
    requests: [
      anyProject,
      {
        ...inA('project A, failed runs of the shared agent'),
        query: (fixture) => `project=${fixture.projectA}&agent=${fixture.agentId}&status=failed`,
      },
    ],
  },
  // A run of a project the key is not bound to answers exactly like a missing run.
  'GET /runs/{runId}': {
    permission: 'read',
    requests: [{ ...inA(), outOfScope: { status: 404, code: 'NOT_FOUND' } }],
  },
  'GET /agents': {
    permission: 'read',
    requests: [anyProject, { ...inA('project A'), query: (fixture) => `project=${fixture.projectA}` }],
  },
  'GET /failures': {
    permission: 'read',
    requests: [anyProject, { ...inA('project A'), query: (fixture) => `project=${fixture.projectA}` }],
  },
  'GET /integrity': { permission: 'read', requests: [anyProject] },
  'GET /export': {
    permission: 'export',
    requests: [{ ...inA(), query: (fixture) => `project=${fixture.projectA}&format=csv` }],
  },
  'POST /integrity/verify': {
    permission: 'verify',
    requests: [{ ...inA(), body: (fixture) => ({ project: fixture.projectA }) }],
  },
  'GET /integrity/progress': {
    permission: 'verify',
    requests: [{ ...inA(), query: (fixture) => `project=${fixture.projectA}` }],
  },
};

/** The path parameters of dashboard routes that the API has none of. */
export const DASHBOARD_PATH_PARAMETERS: Record<string, PathParameter> = {
  name: () => 'dashboard.css',
};

import { ApiKeyStore, buildServer } from '@execution-ledger/server';
import {
  describeEachEngine,
  type EngineContext,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { generateSigningKey } from 'execution-ledger/verify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  answeredBy,
  type Cell,
  describeCell,
  expectedAnswer,
  isGranted,
  observedAnswer,
  type Principal,
  refusedOtherwise,
  wronglyGranted,
  wronglyRefused,
} from './support/matrix-cells.js';
import { registeredRoutes } from './support/registered-routes.js';
import {
  DASHBOARD_EXPECTATIONS,
  DASHBOARD_PATH_PARAMETERS,
  expectationGaps,
  HIDDEN_ROUTES,
  type MatrixFixture,
  type MatrixRequest,
  type OperationExpectation,
  PATH_PARAMETERS,
  ROUTE_EXPECTATIONS,
} from './support/route-expectations.js';

interface MatrixRun {
  operations: number;
  requests: number;
  principals: Principal[];
  cells: Cell[];
  gaps: string[];
  undocumentedSecurity: string[];
  /** `METHOD /path` of every operation in /openapi.json. */
  documented: string[];
  /** Both projects' ids and run ids, which no public answer may show. */
  identifiers: string[];
}

const SCOPES = ['A', 'B', 'all'] as const;
const ROLES = ['ingest', 'read', 'admin', 'revoked'] as const;

describeEachEngine('role × route × project-scope matrix over /openapi.json', (context) => {
  let app: FastifyInstance;
  let run: MatrixRun;

  beforeAll(async () => {
    app = await buildServer({ ledger: context.ledger });
    // Each answer names the route that produced it and the permission that route declares, so
    // the matrix checks the declared permission itself rather than trusting the table.
    app.addHook('onSend', async (request, reply, payload) => {
      reply.header('x-matrix-route', `${request.method} ${request.routeOptions.url ?? '(no route)'}`);
      reply.header('x-matrix-permission', request.routeOptions.config?.permission ?? 'public');
      return payload;
    });
    await app.ready();
    run = await runMatrix(app, context);
    const { cells } = run;
    console.log(
      `role × route matrix [${context.engine}]: routes ${run.operations}, requests ${run.requests}, ` +
        `principals ${run.principals.length} (roles ${ROLES.length + 1}, scopes ${SCOPES.length}), ` +
        `cells ${cells.length}, granted ${cells.filter((cell) => isGranted(cell.expected)).length}, ` +
        `wrongly granted ${wronglyGranted(cells).length}, ` +
        `wrongly refused ${wronglyRefused(cells).length}, refused otherwise ${refusedOtherwise(cells).length}, ` +
        `leaks ${cells.filter((cell) => cell.leaked.length > 0).length}`,
    );
  });
  afterAll(async () => {
    await app?.close();
    for (const endpoint of await context.ledger.webhooks.list()) {
      if (endpoint.url === 'http://127.0.0.1:9/hook') await context.ledger.webhooks.delete(endpoint.id);
    }
  });

  it('has an expectation line for every operation in /openapi.json and none for a removed one', () => {
    expect(run.gaps).toEqual([]);
  });

  it('declares in each route config the permission the table expects, and documents it as secured', () => {
    const mismatches = run.cells
      .filter((cell) => cell.declared !== ROUTE_EXPECTATIONS[cell.operation]?.permission || !answeredBy(cell))
      .map((cell) => `${cell.operation}: answered by ${cell.route}, which declares ${cell.declared}`);
    expect([...new Set(mismatches)]).toEqual([]);
    expect(run.undocumentedSecurity).toEqual([]);
  });

  it('grants no cell that the key role and its projects do not allow', () => {
    expect(wronglyGranted(run.cells).map(describeCell)).toEqual([]);
  });

  it('grants every cell that the key role and its projects allow, so refusing everything cannot pass', () => {
    expect(wronglyRefused(run.cells).map(describeCell)).toEqual([]);
    // A table that expected refusals everywhere would pass the line above: every operation must serve someone.
    const unserved = Object.keys(ROUTE_EXPECTATIONS).filter(
      (operation) => !run.cells.some((cell) => cell.operation === operation && isGranted(cell.observed)),
    );
    expect(unserved).toEqual([]);
  });

  it('refuses with 401 without a live key, 403 without the permission, and as documented outside the projects', () => {
    expect(refusedOtherwise(run.cells).map(describeCell)).toEqual([]);
  });

  it("never shows a key bound to some projects another project's id or runs, unless the request named them", () => {
    const leaks = run.cells
      .filter((cell) => cell.leaked.length > 0)
      .map((cell) => `${cell.name} shows ${cell.leaked.join(', ')}`);
    expect(leaks).toEqual([]);
  });

  it('guards the HEAD twin of every GET, which /openapi.json does not list, exactly like the GET', async () => {
    // Fastify answers HEAD for every GET route by itself; sent without a key and with a key of the other project.
    const twins = run.cells.filter(
      (cell) =>
        cell.operation.startsWith('GET ') &&
        (cell.principal.role === 'none' || (cell.principal.role === 'read' && cell.principal.scope === 'B')),
    );
    const differing: string[] = [];
    for (const cell of twins) {
      const { authorization } = cell.principal;
      const head = await app.inject({
        method: 'HEAD',
        url: cell.url,
        headers: authorization === undefined ? {} : { authorization },
      });
      const answer = `${head.statusCode}, declaring ${String(head.headers['x-matrix-permission'])}`;
      if (answer !== `${cell.status}, declaring ${cell.declared}`)
        differing.push(`HEAD of ${cell.name}: ${answer}`);
    }
    expect(twins.length).toBeGreaterThan(0);
    expect(differing).toEqual([]);
  });

  it('answers no route missing from /openapi.json but HEAD twins and the named public hidden routes', async () => {
    const registered = registeredRoutes(app);
    // The route tree was read right only if it holds every documented operation.
    expect(registered).toEqual(expect.arrayContaining(run.documented));
    // Dashboard pages are HTML, outside /openapi.json: the dashboard section below holds them to their own table.
    const listed = (route: string) =>
      run.documented.includes(route) ||
      HIDDEN_ROUTES[route] !== undefined ||
      DASHBOARD_EXPECTATIONS[route] !== undefined;
    const escaped = registered.filter(
      (route) => !listed(route) && !(route.startsWith('HEAD ') && listed(route.replace(/^HEAD/, 'GET'))),
    );
    expect(escaped).toEqual([]);
    for (const route of Object.keys(HIDDEN_ROUTES)) {
      const response = await app.inject({ method: 'GET', url: present(route.split(' ')[1]) });
      expect(response.statusCode, route).toBe(200);
      expect(response.headers['x-matrix-permission'], route).toBe('public');
      expect(
        run.identifiers.filter((id) => response.body.includes(id)),
        route,
      ).toEqual([]);
    }
  });

  it('reports an operation added to /openapi.json without a line, and a line left after its route is gone', () => {
    const paths = { '/healthz': { get: {} }, '/v1/new-thing': { post: {} } };
    const gaps = expectationGaps(paths, {
      'GET /healthz': present(ROUTE_EXPECTATIONS['GET /healthz']),
      'GET /gone': present(ROUTE_EXPECTATIONS['GET /healthz']),
    });
    expect(gaps).toHaveLength(2);
    expect(gaps[0]).toMatch(/^POST \/v1\/new-thing is in \/openapi.json but not in ROUTE_EXPECTATIONS/);
    expect(gaps[1]).toMatch(/^GET \/gone is in ROUTE_EXPECTATIONS but no longer/);
  });
});

/** Seeds both projects, makes every principal, then sends every documented request as each of them. */
async function runMatrix(app: FastifyInstance, context: EngineContext): Promise<MatrixRun> {
  const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  };
  const store = new ApiKeyStore(context.ledger);
  const { fixture, identifiers } = await seed(context, store);
  const principals = await makePrincipals(store, fixture);
  const cells: Cell[] = [];
  const undocumentedSecurity: string[] = [];
  let [operations, requests] = [0, 0];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, documented] of Object.entries(methods)) {
      operations += 1;
      const operation = `${method.toUpperCase()} ${path}`;
      const expectation = ROUTE_EXPECTATIONS[operation];
      // The gap test reports it; the other tests still judge every operation that has a line.
      if (expectation === undefined) continue;
      const secured = (documented.security?.length ?? 0) > 0;
      if (secured !== (expectation.permission !== 'public')) undocumentedSecurity.push(operation);
      for (const request of expectation.requests) {
        requests += 1;
        for (const principal of principals) {
          const others = { A: identifiers.b, B: identifiers.a, all: [], '-': [] }[principal.scope];
          cells.push(await sendCell(app, { operation, expectation, request, principal, fixture, others }));
        }
      }
    }
  }
  return {
    operations,
    requests,
    principals,
    cells,
    gaps: expectationGaps(spec.paths),
    undocumentedSecurity,
    documented: Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    ),
    identifiers: [...identifiers.a, ...identifiers.b],
  };
}

interface CellPlan {
  operation: string;
  expectation: OperationExpectation;
  request: MatrixRequest;
  principal: Principal;
  fixture: MatrixFixture;
  /** Identifiers of the project the principal is not bound to, which its answers must not show. */
  others: readonly string[];
}

async function sendCell(app: FastifyInstance, plan: CellPlan): Promise<Cell> {
  const { operation, request, principal } = plan;
  const [method, path] = operation.split(' ') as [string, string];
  const sent = await buildRequest(path, request, plan.fixture);
  const response = await app.inject({
    method: method as 'GET',
    url: sent.url,
    headers: principal.authorization === undefined ? {} : { authorization: principal.authorization },
    ...(sent.body === undefined ? {} : { payload: sent.body as object }),
  });
  // Naming the other project's data in the request and seeing it echoed back is no leak.
  const sentText = `${sent.url} ${JSON.stringify(sent.body ?? null)}`;
  return {
    operation,
    principal,
    url: sent.url,
    status: response.statusCode,
    name: `${operation}${request.variant ? ` (${request.variant})` : ''} as ${principal.role}@${principal.scope}`,
    expected: expectedAnswer(plan.expectation, request, principal),
    observed: observedAnswer(response, request),
    leaked: plan.others.filter((id) => response.body.includes(id) && !sentText.includes(id)),
    route: String(response.headers['x-matrix-route']),
    declared: String(response.headers['x-matrix-permission']),
  };
}

/** Runs of one agent in both projects (a failed one each, so failure lists are not empty), then a checkpoint. */
async function seed(context: EngineContext, store: ApiKeyStore) {
  const [projectA, projectB] = [context.project('matrix-a'), context.project('matrix-b')];
  const agentId = context.project('matrix-agent');
  const identifiers: { a: string[]; b: string[] } = { a: [projectA], b: [projectB] };
  for (const [projectId, ids] of [
    [projectA, identifiers.a],
    [projectB, identifiers.b],
  ] as const) {
    for (const status of ['completed', 'failed'] as const) {
      const input = makeExecution(projectId, {
        agent_id: agentId,
        status,
        ...(status === 'failed' ? { error_message: 'matrix seed failure' } : {}),
      });
      ids.push((await context.ledger.recordExecution(input)).run_id);
    }
  }
  const signed = await context.ledger.createCheckpoint({
    privateKey: generateSigningKey('matrix.test').signingKey,
  });
  const budgetOfA = `budget-${projectA}`;
  await context.ledger.budgets.set({
    id: budgetOfA,
    project_id: projectA,
    period: 'day',
    limit_cents: 100_000,
  });
  await context.ledger.budgets.set({
    id: `budget-${projectB}`,
    project_id: projectB,
    period: 'day',
    limit_cents: 1,
  });
  identifiers.b.push(`budget-${projectB}`);
  // Endpoints start past every event they could see, so no deliverer running beside the
  // matrix ever posts to them; afterAll deletes them.
  const webhook = (id: string, projectId: string) =>
    context.ledger.webhooks.set({
      id,
      url: 'http://127.0.0.1:9/hook',
      secret: 'matrix-secret-0123456789',
      project_id: projectId,
      from_seq: Number.MAX_SAFE_INTEGER,
    });
  await webhook(`hook-${projectB}`, projectB);
  identifiers.b.push(`hook-${projectB}`);
  let webhooks = 0;
  const now = Date.now();
  const fixture: MatrixFixture = {
    budgetOfA,
    newWebhook: async () => {
      webhooks += 1;
      return (await webhook(`hook-${projectA}-${webhooks}`, projectA)).id;
    },
    newReservation: async () =>
      (
        await context.ledger.budgets.reserve(
          { project_id: projectA, agent_id: agentId, user_id: 'user-001' },
          1,
        )
      ).id,
    projectA,
    projectB,
    agentId,
    runOfA: present(identifiers.a[1]),
    runOfB: present(identifiers.b[1]),
    checkpointSeq: present(signed.checkpoint).seq,
    timeRange: `start=${new Date(now - 86_400_000).toISOString()}&end=${new Date(now + 86_400_000).toISOString()}`,
    newKey: async (projects) => {
      const bound = projects === 'A' ? [projectA] : null;
      return (await store.create({ name: 'matrix revoke target', role: 'read', projects: bound })).id;
    },
  };
  return { fixture, identifiers };
}

async function makePrincipals(store: ApiKeyStore, fixture: MatrixFixture): Promise<Principal[]> {
  const principals: Principal[] = [];
  const projectsOf = { A: [fixture.projectA], B: [fixture.projectB], all: null };
  for (const role of ROLES) {
    for (const scope of SCOPES) {
      // The revoked key is an admin key: the strongest role shows that revocation alone refuses it.
      const created = await store.create({
        name: `matrix ${role} ${scope}`,
        role: role === 'revoked' ? 'admin' : role,
        projects: projectsOf[scope],
      });
      if (role === 'revoked') await store.revoke(created.id);
      principals.push({ role, scope, authorization: `Bearer ${created.token}` });
    }
  }
  principals.push({ role: 'none', scope: '-' });
  return principals;
}

async function buildRequest(path: string, request: MatrixRequest, fixture: MatrixFixture) {
  let url = path;
  for (const [, parameter] of path.matchAll(/\{(\w+)\}/g)) {
    const fill =
      request.pathParameters?.[present(parameter)] ??
      PATH_PARAMETERS[present(parameter)] ??
      DASHBOARD_PATH_PARAMETERS[present(parameter)];
    if (fill === undefined)
      throw new Error(`${path} has the path parameter ${parameter}: add it to PATH_PARAMETERS`);
    url = url.replace(`{${parameter}}`, encodeURIComponent(await fill(fixture)));
  }
  const query = request.query?.(fixture);
  return { url: query === undefined ? url : `${url}?${query}`, body: request.body?.(fixture) };
}

describeEachEngine('dashboard pages × role × project scope, signed in with each key', (context) => {
  let app: FastifyInstance;
  let cells: Cell[];
  let sessions: Map<Principal, string | undefined>;
  let documented: string[];

  beforeAll(async () => {
    app = await buildServer({ ledger: context.ledger });
    app.addHook('onSend', async (request, reply, payload) => {
      reply.header('x-matrix-route', `${request.method} ${request.routeOptions.url ?? '(no route)'}`);
      reply.header('x-matrix-permission', request.routeOptions.config?.dashboard ?? '(none)');
      return payload;
    });
    await app.ready();
    const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    documented = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const store = new ApiKeyStore(context.ledger);
    const { fixture, identifiers } = await seed(context, store);
    const principals = await makePrincipals(store, fixture);
    sessions = new Map();
    for (const principal of principals) sessions.set(principal, await signIn(app, principal));
    cells = [];
    for (const [operation, expectation] of Object.entries(DASHBOARD_EXPECTATIONS)) {
      for (const request of expectation.requests) {
        for (const principal of principals) {
          const others = { A: identifiers.b, B: identifiers.a, all: [], '-': [] }[principal.scope];
          const plan = { operation, expectation, request, principal, fixture, others };
          // Signing out ends the session for good: that cell gets a session of its own.
          const cookie =
            operation === 'POST /sign-out' ? await signIn(app, principal) : sessions.get(principal);
          cells.push(await sendPageCell(app, plan, cookie));
        }
      }
    }
    console.log(
      `dashboard matrix [${context.engine}]: pages ${Object.keys(DASHBOARD_EXPECTATIONS).length}, cells ${cells.length}, ` +
        `granted ${cells.filter((cell) => isGranted(cell.observed)).length}`,
    );
  });
  afterAll(async () => {
    await app?.close();
  });

  it('signs in keys of role read and admin, and no ingest, revoked or missing key', () => {
    const signedIn = [...sessions.entries()]
      .filter(([, cookie]) => cookie !== undefined)
      .map(([principal]) => `${principal.role}@${principal.scope}`);
    expect(signedIn.sort()).toEqual(['admin@A', 'admin@B', 'admin@all', 'read@A', 'read@B', 'read@all']);
  });

  it('declares in each page config the permission the table expects', () => {
    const mismatches = cells
      .filter(
        (cell) =>
          cell.declared !== DASHBOARD_EXPECTATIONS[cell.operation]?.permission ||
          cell.route !== cell.operation.replace(/\{(\w+)\}/g, ':$1'),
      )
      .map((cell) => `${cell.operation}: answered by ${cell.route}, which declares ${cell.declared}`);
    expect([...new Set(mismatches)]).toEqual([]);
  });

  it('grants exactly the cells the session key role and its projects allow', () => {
    expect(wronglyGranted(cells).map(describeCell)).toEqual([]);
    expect(wronglyRefused(cells).map(describeCell)).toEqual([]);
    expect(refusedOtherwise(cells).map(describeCell)).toEqual([]);
    const unserved = Object.keys(DASHBOARD_EXPECTATIONS).filter(
      (operation) => !cells.some((cell) => cell.operation === operation && isGranted(cell.observed)),
    );
    expect(unserved).toEqual([]);
  });

  it("never shows a key bound to some projects another project's id or runs on any page", () => {
    const leaks = cells
      .filter((cell) => cell.leaked.length > 0)
      .map((cell) => `${cell.name} shows ${cell.leaked.join(', ')}`);
    expect(leaks).toEqual([]);
  });

  it('has a line for every dashboard route the server answers and none for a route it no longer has', () => {
    const undocumented = registeredRoutes(app).filter(
      (route) =>
        !route.startsWith('HEAD ') && !documented.includes(route) && HIDDEN_ROUTES[route] === undefined,
    );
    expect(undocumented.sort()).toEqual(Object.keys(DASHBOARD_EXPECTATIONS).sort());
  });
});

/** The session cookie a principal's key gets from the sign-in form, or undefined when refused. */
async function signIn(app: FastifyInstance, principal: Principal): Promise<string | undefined> {
  if (principal.authorization === undefined) return undefined;
  const response = await app.inject({
    method: 'POST',
    url: '/sign-in',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ key: principal.authorization.replace(/^Bearer /, '') }).toString(),
  });
  if (response.statusCode !== 303) {
    // A refused sign-in answers with its reason on the page, never a stack trace.
    expect(response.body).toMatch(/role="alert"/);
    expect(response.body).not.toMatch(/\bat .+:\d+:\d+\)/);
    return undefined;
  }
  const cookie = response.cookies.find((entry) => entry.name === 'ledger_session');
  return cookie === undefined ? undefined : `ledger_session=${cookie.value}`;
}

/** Sends one dashboard request with the principal's session; a redirect to sign in is "no session". */
async function sendPageCell(app: FastifyInstance, plan: CellPlan, cookie: string | undefined): Promise<Cell> {
  const { operation, request, principal } = plan;
  const [method, path] = operation.split(' ') as [string, string];
  const sent = await buildRequest(path, request, plan.fixture);
  const response = await app.inject({
    method: method as 'GET',
    url: sent.url,
    headers: { accept: 'application/json', ...(cookie === undefined ? {} : { cookie }) },
    ...(sent.body === undefined ? {} : { payload: sent.body as object }),
  });
  const sentText = `${sent.url} ${JSON.stringify(sent.body ?? null)}`;
  const location = String(response.headers.location ?? '');
  const observed: Cell['observed'] =
    response.statusCode === 303 && location.startsWith('/sign-in?next=')
      ? { status: 401, code: 'UNAUTHENTICATED' }
      : response.statusCode >= 200 && response.statusCode < 400
        ? 'granted'
        : pageRefusal(response.statusCode, response.body, request);
  // Keys that cannot sign in have no session: every page but the public ones sends them to sign in.
  const expected =
    (principal.role === 'ingest' || principal.role === 'revoked') && plan.expectation.permission !== 'public'
      ? { status: 401, code: 'UNAUTHENTICATED' }
      : expectedAnswer(plan.expectation, request, principal);
  return {
    operation,
    principal,
    url: sent.url,
    status: response.statusCode,
    name: `${operation}${request.variant ? ` (${request.variant})` : ''} as ${principal.role}@${principal.scope}`,
    expected,
    observed,
    leaked: plan.others.filter((id) => response.body.includes(id) && !sentText.includes(id)),
    route: String(response.headers['x-matrix-route']),
    declared: String(response.headers['x-matrix-permission']),
  };
}

function pageRefusal(status: number, body: string, request: MatrixRequest): Cell['observed'] {
  const code = /data-code="([A-Z_]+)"/.exec(body)?.[1] ?? '(no code)';
  const { grantedAs } = request;
  if (grantedAs !== undefined && grantedAs.status === status && grantedAs.code === code) return 'granted';
  return { status, code };
}

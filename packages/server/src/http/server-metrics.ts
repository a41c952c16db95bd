import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of one server instance (its own registry, so several servers in one
 * process do not mix their counts). Route labels are route patterns, never raw paths, so
 * run ids do not explode the label space.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'execution_ledger_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'],
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'execution_ledger_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by method and route pattern.',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  private readonly appends = new Counter({
    name: 'execution_ledger_appends_total',
    help: 'Executions submitted over HTTP, by outcome: created, replayed or conflict.',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly rejections = new Counter({
    name: 'execution_ledger_http_rejections_total',
    help: 'Requests or batch items refused, by error code.',
    labelNames: ['code'],
    registers: [this.registry],
  });

  private readonly checkpoints = new Counter({
    name: 'execution_ledger_checkpoints_total',
    help: 'Periodic checkpoint runs, by outcome: created, unchanged (no head moved) or failed.',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly diverged = new Gauge({
    name: 'execution_ledger_checkpoint_diverged_projects',
    help: 'Projects whose chain lost the head an earlier checkpoint committed to, at the last run; alert above 0.',
    registers: [this.registry],
  });

  /** Counts every answer once it is sent. */
  attach(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.requests.inc({ method: request.method, route, status_code: String(reply.statusCode) });
      this.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
  }

  countAppend(outcome: 'created' | 'replayed' | 'conflict'): void {
    this.appends.inc({ outcome });
  }

  countRejection(code: string): void {
    this.rejections.inc({ code });
  }

  countCheckpointRun(outcome: 'created' | 'unchanged' | 'failed', divergedProjects?: number): void {
    this.checkpoints.inc({ outcome });
    if (divergedProjects !== undefined) this.diverged.set(divergedProjects);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

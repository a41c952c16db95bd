import type { LightMyRequestResponse } from 'fastify';

/** What the hostile battery counts: the figures its summary line reports. */
export class HostileTally {
  requests = 0;
  serverErrors: string[] = [];
  altered: string[] = [];
  held = 0;
  created = 0;

  /** Counts one answer; a status of 500 or more is remembered with what provoked it. */
  count(label: string, status: number, body = ''): void {
    this.requests += 1;
    if (status >= 500) this.serverErrors.push(`${label} -> ${status} ${body.slice(0, 200)}`);
  }

  countInjected(label: string, response: LightMyRequestResponse): LightMyRequestResponse {
    this.count(label, response.statusCode, response.body);
    return response;
  }

  summary(engine: string): string {
    return (
      `hostile HTTP [${engine}]: requests ${this.requests}, 5xx ${this.serverErrors.length}, ` +
      `altered ${this.altered.length}, held ${this.held} (accepted ${this.created})`
    );
  }
}

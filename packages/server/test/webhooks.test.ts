import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SIGNATURE_HEADER, WebhookDelivery } from '@execution-ledger/server';
import { describeEachEngine, expectLedgerError, makeExecution } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const TOLERANCE_S = 300;

interface Receipt {
  id: string;
  seq: number;
}

/**
 * A receiver as a user would write it: it checks the signature and the timestamp of every
 * request, and for a while answers 500 or does not answer in time.
 */
async function startReceiver(misbehave: (request: number) => 'ok' | 'fail' | 'hang') {
  const receipts: Receipt[] = [];
  const rejected: string[] = [];
  let requests = 0;
  const server: Server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const header = String(request.headers[SIGNATURE_HEADER] ?? '');
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    const expected =
      match === null ? '' : createHmac('sha256', SECRET).update(`${match[1]}.${body}`).digest('hex');
    const fresh = match !== null && Math.abs(Date.now() / 1000 - Number(match[1])) <= TOLERANCE_S;
    if (match === null || !fresh || !timingSafeEqual(Buffer.from(expected), Buffer.from(match[2] ?? ''))) {
      rejected.push(header);
      response.writeHead(401).end();
      return;
    }
    requests += 1;
    const behaviour = misbehave(requests);
    if (behaviour === 'fail') {
      response.writeHead(500).end();
      return;
    }
    const event = JSON.parse(body) as Receipt;
    // A hung request is still processed: the sender gave up, so it will come again.
    receipts.push({ id: event.id, seq: event.seq });
    if (behaviour === 'hang') await sleep(400);
    response.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    receipts,
    rejected,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describeEachEngine('webhook delivery', (context) => {
  it('delivers every event in order through 500s, timeouts and a restart, repeating only whole events', async () => {
    const project = context.project('hooks');
    const budgetId = `hooks-${project}`;
    await context.ledger.budgets.set({
      id: budgetId,
      project_id: project,
      period: 'total',
      limit_cents: 100,
      thresholds: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    });
    // Requests 1-3 fail, 4-5 hang past the timeout, then one in four fails until request 16.
    const receiver = await startReceiver((n) =>
      n <= 3 ? 'fail' : n <= 5 ? 'hang' : n < 16 && n % 4 === 0 ? 'fail' : 'ok',
    );
    await context.ledger.webhooks.set({
      id: `hook-${project}`,
      url: receiver.url,
      secret: SECRET,
      project_id: project,
    });
    const options = { pollMs: 20, requestTimeoutMs: 200, backoffBaseMs: 20, backoffMaxMs: 200 };
    let delivery = new WebhookDelivery(context.ledger, options);
    delivery.start();
    try {
      for (let i = 0; i < 5; i += 1)
        await context.ledger.recordExecution(
          makeExecution(project, { cost: { total: 10, breakdown: { tokens: 10 } } }),
        );
      await sleep(300);
      // A restart: the new deliverer (another ledger, as another process would open) resumes from the cursor.
      await delivery.stop();
      const other = context.openAnother();
      delivery = new WebhookDelivery(other, options);
      delivery.start();
      for (let i = 0; i < 5; i += 1)
        await context.ledger.recordExecution(
          makeExecution(project, { cost: { total: 10, breakdown: { tokens: 10 } } }),
        );
      const expected = (await context.ledger.events.list({ project_id: project })).events;
      expect(expected.map((event) => event.type)).toEqual(Array(10).fill('budget.threshold'));
      const deadline = Date.now() + 20_000;
      while (
        new Set(receiver.receipts.map((receipt) => receipt.id)).size < expected.length &&
        Date.now() < deadline
      ) {
        await sleep(50);
      }
      const firsts = [...new Map(receiver.receipts.map((receipt) => [receipt.id, receipt.seq])).keys()];
      expect(firsts).toEqual(expected.map((event) => event.id));
      // Never ahead of the next undelivered event: a repeat is always of an event already received.
      let highest = -1;
      const order = expected.map((event) => event.id);
      for (const receipt of receiver.receipts) {
        const index = order.indexOf(receipt.id);
        expect(index).toBeLessThanOrEqual(highest + 1);
        highest = Math.max(highest, index);
      }
      expect(receiver.receipts.length).toBeGreaterThan(expected.length);
      expect(receiver.rejected).toEqual([]);
      // The cursor moves once the receiver's answer is back, a moment after the receipt itself.
      await expect
        .poll(() => context.ledger.webhooks.get(`hook-${project}`), { timeout: 5_000 })
        .toMatchObject({ cursor_seq: expected.at(-1)?.seq, attempts: 0, last_error: null });
      expect(JSON.stringify(await context.ledger.webhooks.list())).not.toContain(SECRET);
    } finally {
      await delivery.stop();
      await receiver.close();
    }
  });

  it('never lets a dead endpoint slow appends, and refuses bad endpoints', async () => {
    const project = context.project('dead-hook');
    await context.ledger.budgets.set({
      id: `dead-${project}`,
      project_id: project,
      period: 'total',
      limit_cents: 1,
      thresholds: [100],
    });
    await context.ledger.webhooks.set({
      id: `dead-${project}`,
      url: 'http://127.0.0.1:9/never',
      secret: SECRET,
      project_id: project,
    });
    const delivery = new WebhookDelivery(context.ledger, {
      pollMs: 10,
      requestTimeoutMs: 100,
      backoffBaseMs: 10,
      backoffMaxMs: 50,
    });
    delivery.start();
    try {
      const started = performance.now();
      for (let i = 0; i < 20; i += 1) await context.ledger.recordExecution(makeExecution(project));
      const perAppend = (performance.now() - started) / 20;
      expect(perAppend).toBeLessThan(250);
      await sleep(200);
      const endpoint = await context.ledger.webhooks.get(`dead-${project}`);
      expect(endpoint.attempts).toBeGreaterThan(0);
      expect(endpoint.last_error).not.toBeNull();
    } finally {
      await delivery.stop();
    }
    await expectLedgerError(
      context.ledger.webhooks.set({ id: 'x', url: 'ftp://example.com', secret: SECRET }),
      'VALIDATION_FAILED',
      'url',
    );
    await expectLedgerError(
      context.ledger.webhooks.set({ id: 'x', url: 'https://example.com', secret: 'short' }),
      'VALIDATION_FAILED',
      'secret',
    );
    await expectLedgerError(context.ledger.webhooks.get('no-such-hook'), 'NOT_FOUND', 'webhook_id');
    expect(await context.ledger.webhooks.delete(`dead-${project}`)).toBe(true);
  });
});

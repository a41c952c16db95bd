import type { KeyRole } from '@execution-ledger/server';
import { present } from '@execution-ledger/test-support';
import type { LightMyRequestResponse } from 'fastify';
import {
  DENIED_OUT_OF_SCOPE,
  type MatrixRequest,
  type OperationExpectation,
  type Refusal,
  ROLE_PERMISSIONS,
} from './route-expectations.js';

// The cells of the role × route matrix and how each is judged: the answer the expectation table
// predicts against the answer the server gave.

/** The caller of a cell: a live key of a role, a revoked admin key, or no key at all. */
export interface Principal {
  role: KeyRole | 'revoked' | 'none';
  /** The projects the key is bound to: A, B only, or every project ('-' without a key). */
  scope: 'A' | 'B' | 'all' | '-';
  authorization?: string;
}

export type Answer = 'granted' | Refusal;

export interface Cell {
  /** `METHOD /path` as /openapi.json spells it. */
  operation: string;
  name: string;
  principal: Principal;
  url: string;
  status: number;
  expected: Answer;
  observed: Answer;
  /** Identifiers of the project the key is not bound to that the answer shows. */
  leaked: string[];
  /** The route that answered and the permission it declares in its config, as the server saw them. */
  route: string;
  declared: string;
}

const UNAUTHENTICATED: Refusal = { status: 401, code: 'UNAUTHENTICATED' };
const ROLE_DENIED: Refusal = { status: 403, code: 'PERMISSION_DENIED' };

/** In the server's order: a live key first, then a role holding the permission, then the projects. */
export function expectedAnswer(
  expectation: OperationExpectation,
  request: MatrixRequest,
  principal: Principal,
): Answer {
  const { permission } = expectation;
  if (permission === 'public') return 'granted';
  if (principal.role === 'none' || principal.role === 'revoked') return UNAUTHENTICATED;
  if (!ROLE_PERMISSIONS[principal.role].includes(permission)) return ROLE_DENIED;
  const inScope =
    request.scope === 'any' ||
    principal.scope === 'all' ||
    (request.scope === 'project-a' && principal.scope === 'A');
  return inScope ? 'granted' : (request.outOfScope ?? DENIED_OUT_OF_SCOPE);
}

/**
 * 2xx (or the request's `grantedAs` error) is granted; any other answer is a refusal to compare
 * with the expected one, so a 400 from a badly built request never passes for either.
 */
export function observedAnswer(response: LightMyRequestResponse, request: MatrixRequest): Answer {
  if (request.batchItems === true && response.statusCode === 200) {
    const item = present(
      (response.json() as { results: { outcome: string; error?: { statusCode: number; code: string } }[] })
        .results[0],
    );
    return item.error === undefined ? 'granted' : { status: item.error.statusCode, code: item.error.code };
  }
  if (response.statusCode >= 200 && response.statusCode < 300) return 'granted';
  const code = (response.json() as { code?: string }).code ?? '(no code)';
  const { grantedAs } = request;
  if (grantedAs !== undefined && grantedAs.status === response.statusCode && grantedAs.code === code) {
    return 'granted';
  }
  return { status: response.statusCode, code };
}

export const isGranted = (answer: Answer) => answer === 'granted';
export const wronglyGranted = (cells: Cell[]) =>
  cells.filter((cell) => !isGranted(cell.expected) && isGranted(cell.observed));
export const wronglyRefused = (cells: Cell[]) =>
  cells.filter((cell) => isGranted(cell.expected) && !isGranted(cell.observed));
export const refusedOtherwise = (cells: Cell[]) =>
  cells.filter(
    (cell) =>
      !isGranted(cell.expected) &&
      !isGranted(cell.observed) &&
      JSON.stringify(cell.expected) !== JSON.stringify(cell.observed),
  );

export function describeCell(cell: Cell): string {
  const show = (answer: Answer) => (answer === 'granted' ? 'granted' : `${answer.status} ${answer.code}`);
  return `${cell.name}: expected ${show(cell.expected)}, got ${show(cell.observed)}`;
}

/** The answering route, in Fastify's `:param` spelling, is the operation the cell meant to call. */
export function answeredBy(cell: Cell): boolean {
  return cell.route === cell.operation.replace(/\{(\w+)\}/g, ':$1');
}

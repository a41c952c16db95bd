import { LedgerError } from '../errors.js';

/** One server of a multi-host URL. */
export interface HostAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Which server of a host list a connection may use, as libpq's `target_session_attrs` says:
 * `any` takes the first that answers; `read-write` the first whose sessions are not read-only
 * (`transaction_read_only` is off); `primary` the first that is not in recovery.
 */
export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

const TARGET_SESSION_ATTRS: readonly TargetSessionAttrs[] = ['any', 'read-write', 'primary'];

/** A `postgres://` URL naming one or more servers (`host1:5432,host2:5432`), libpq's syntax. */
export interface HostList {
  readonly hosts: readonly HostAddress[];
  readonly targetSessionAttrs: TargetSessionAttrs;
  /** The URL with the password shown as `***`, for messages. */
  readonly redacted: string;
  /** A single-host URL that node-postgres understands, for one server of the list. */
  urlFor(address: HostAddress): string;
}

const DEFAULT_PORT = 5432;
const URL_SHAPE = /^(postgres(?:ql)?:\/\/)(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?$/i;

/**
 * Parses a URL that may name several servers. Returns `undefined` for a URL node-postgres can
 * take as it is (one host, no `target_session_attrs`), so the common case keeps its one pool.
 */
export function parseHostList(url: string): HostList | undefined {
  const match = URL_SHAPE.exec(url);
  if (match === null) return undefined;
  const [, scheme = '', userInfo, authority = '', path = '', query = ''] = match;
  const parameters = new URLSearchParams(query);
  const attrs = parameters.get('target_session_attrs');
  const names = authority.split(',');
  if (names.length === 1 && attrs === null) return undefined;
  parameters.delete('target_session_attrs');
  const portParameter = parameters.get('port');
  const defaultPort = portParameter === null ? DEFAULT_PORT : requirePort(portParameter, url);
  const hosts = names.map((name) => parseAddress(name, defaultPort, url));
  const targetSessionAttrs = requireTargetSessionAttrs(attrs ?? 'any');
  const rest = parameters.toString();
  const tail = `${path}${rest === '' ? '' : `?${rest}`}`;
  const user = userInfo === undefined ? '' : `${userInfo}@`;
  const redactedUser = userInfo === undefined ? '' : `${userInfo.replace(/:.*$/s, ':***')}@`;
  return {
    hosts,
    targetSessionAttrs,
    redacted: `${scheme}${userInfo?.includes(':') ? redactedUser : user}${authority}${path}`,
    urlFor: (address) => `${scheme}${user}${formatAddress(address)}${tail}`,
  };
}

function parseAddress(text: string, defaultPort: number, url: string): HostAddress {
  // [v6::address]:port, or host:port, or host alone.
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(text);
  const plain = /^([^:[\]]*)(?::(\d*))?$/.exec(text);
  const parts = bracketed ?? plain;
  const host = parts?.[1] ?? '';
  if (parts === null || host === '') {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `database URL names the host "${text}", which is not host or host:port; ` +
        'write several servers as postgres://user@host1:5432,host2:5432/database',
      { field: 'database', details: { url: redactAuthority(url) } },
    );
  }
  const port = parts[2] === undefined || parts[2] === '' ? defaultPort : requirePort(parts[2], url);
  return { host: bracketed === null ? host : `[${host}]`, port };
}

function requirePort(text: string, url: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65_535) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `database URL has the port "${text}"; a port is a whole number from 1 to 65535`,
      { field: 'database', details: { url: redactAuthority(url) } },
    );
  }
  return port;
}

function requireTargetSessionAttrs(value: string): TargetSessionAttrs {
  const known = TARGET_SESSION_ATTRS.find((attrs) => attrs === value);
  if (known === undefined) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `database URL has target_session_attrs=${value}; the ledger writes, so it takes ` +
        `${TARGET_SESSION_ATTRS.join(', ')} (read-write follows a failover to the promoted standby)`,
      { field: 'database', details: { target_session_attrs: value } },
    );
  }
  return known;
}

function formatAddress(address: HostAddress): string {
  return `${address.host}:${address.port}`;
}

function redactAuthority(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

import { DEFAULT_LIMITS, REPLAY_BLOB_BYTES_DEFAULT, REPLAY_BLOB_BYTES_MAX } from '../bounds.js';
import type { CallHandler, CapturedCall } from '../costs/run-context.js';
import { LedgerError } from '../errors.js';
import { canonicalJson } from '../format/canonical-json.js';
import { assertPlainJson, type JsonValue } from '../plain-json.js';
import type { StepKind } from '../step-shape.js';
import type { BlobStore } from './blob-store.js';

/** Where a value being captured comes from, for the redaction hook. */
export interface CaptureSite {
  kind: StepKind;
  name: string;
  part: 'request' | 'response';
  /** The call's position in the run, from 0. */
  index: number;
}

export interface CaptureOptions {
  /**
   * Runs on a copy of every request and response before anything is hashed or stored, and returns
   * what may be kept (drop or mask secrets here). The run function still gets the real response.
   */
  redact?: (value: JsonValue, site: CaptureSite) => JsonValue;
  /** Largest canonical JSON of one request or response, in bytes (default 1 MiB, at most 16 MiB). */
  blobBytesMax?: number;
}

/** The canonical JSON of a value after the redaction hook, checked for size. */
export function capturedText(value: JsonValue, site: CaptureSite, options: CaptureOptions): string {
  const redacted = options.redact === undefined ? value : options.redact(structuredClone(value), site);
  assertPlainJson(
    redacted,
    `${site.part} of call ${site.index} (${site.name})`,
    DEFAULT_LIMITS.json_depth_max,
  );
  const text = canonicalJson(redacted);
  const max = options.blobBytesMax ?? REPLAY_BLOB_BYTES_DEFAULT;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > max) {
    throw new LedgerError(
      'PAYLOAD_TOO_LARGE',
      `the ${site.part} of call ${site.index} (${site.name}) is ${bytes} bytes of JSON, above capture.blobBytesMax ` +
        `${max}; leave large parts out in the redact hook, or raise blobBytesMax (at most ${REPLAY_BLOB_BYTES_MAX})`,
      { field: site.part },
    );
  }
  return text;
}

export function checkCaptureOptions(options: unknown): CaptureOptions {
  if (options === true) return {};
  if (typeof options !== 'object' || options === null) {
    throw new LedgerError('VALIDATION_FAILED', 'capture must be true or an object such as { redact }', {
      field: 'capture',
    });
  }
  const given = options as CaptureOptions;
  if (given.redact !== undefined && typeof given.redact !== 'function') {
    throw new LedgerError('VALIDATION_FAILED', 'capture.redact must be a function (value, site) => value', {
      field: 'capture.redact',
    });
  }
  const max = given.blobBytesMax;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1 || max > REPLAY_BLOB_BYTES_MAX)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `capture.blobBytesMax must be a whole number of bytes from 1 to ${REPLAY_BLOB_BYTES_MAX}; got ${String(max)}`,
      { field: 'capture.blobBytesMax' },
    );
  }
  return given;
}

/** Makes each call live, then stores its redacted request and response and names their hashes. */
export class CapturingHandler implements CallHandler {
  constructor(
    private readonly blobs: BlobStore,
    private readonly options: CaptureOptions,
  ) {}

  async answer(
    call: CapturedCall,
  ): Promise<{ response: JsonValue; io: { request: string; response: string } }> {
    const site = (part: 'request' | 'response'): CaptureSite => ({
      kind: call.kind,
      name: call.name,
      part,
      index: call.index,
    });
    // The request is captured before the call goes out: a call that fails still shows what it sent.
    const requestText = capturedText(call.request, site('request'), this.options);
    const requestHash = await this.blobs.put(requestText);
    const response = await call.live();
    assertPlainJson(response, `response of call ${call.index} (${call.name})`, DEFAULT_LIMITS.json_depth_max);
    const responseHash = await this.blobs.put(capturedText(response, site('response'), this.options));
    return { response, io: { request: requestHash, response: responseHash } };
  }
}

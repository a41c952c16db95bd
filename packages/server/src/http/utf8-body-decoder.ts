import { LedgerError } from 'execution-ledger';

// fatal: a malformed sequence throws instead of becoming U+FFFD, which would store text the
// client never sent (and hash it as if it had).
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Refuses a body declared in any charset but UTF-8 (case-insensitive, quotes allowed); no
 * charset means UTF-8, as RFC 8259 says JSON is. Decoding latin1 or UTF-16 bytes as UTF-8
 * would silently store different text.
 */
export function requireUtf8Charset(contentType: string | undefined): void {
  for (const parameter of (contentType ?? '').split(';').slice(1)) {
    const separator = parameter.indexOf('=');
    if (separator === -1) continue;
    if (parameter.slice(0, separator).trim().toLowerCase() !== 'charset') continue;
    const charset = parameter
      .slice(separator + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (charset.toLowerCase() === 'utf-8') continue;
    throw new LedgerError(
      'UNSUPPORTED_MEDIA_TYPE',
      `content-type declares charset ${JSON.stringify(charset.slice(0, 40))}; ` +
        'send the JSON body encoded as UTF-8, with charset=utf-8 or no charset',
      { field: 'content-type' },
    );
  }
}

/** The body's text, or a 400 when its bytes are not well-formed UTF-8. */
export function decodeUtf8Body(bytes: Buffer): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'body is not well-formed UTF-8 (an invalid, overlong, truncated or surrogate byte sequence); ' +
        'encode the JSON text as UTF-8',
      { field: 'body' },
    );
  }
}

import { readFile, stat } from 'node:fs/promises';
import {
  isLedgerError,
  LedgerError,
  type LedgerErrorCode,
  type NoteVerifierKey,
  type SigningKey,
} from 'execution-ledger';
import { parsePublicKeys, parseSigningKey } from 'execution-ledger/verify';
import { SMALL_INPUT_FILE_BYTES_MAX } from '../bounds.js';

const CREATE_HINT =
  'create a key pair with `execution-ledger signing-key create --private-key <file> --public-key <file>`';

/** Reads a private key file named by a flag; INVALID_KEY names the flag, the file and the fix. */
export async function readSigningKeyFile(file: string, flag: string): Promise<SigningKey> {
  const text = await readSmallFile(file, flag, 'INVALID_KEY', CREATE_HINT);
  return parseKey(() => parseSigningKey(text, flag), file, flag, 'a private key file');
}

/** Reads a public key file (one verifier key per line) named by a flag. */
export async function readPublicKeyFile(file: string, flag: string): Promise<NoteVerifierKey[]> {
  const text = await readSmallFile(file, flag, 'INVALID_KEY', CREATE_HINT);
  return parseKey(() => parsePublicKeys(text, flag), file, flag, 'a public key file');
}

/**
 * A key file, a checkpoint note: small texts read whole. The size is checked first so a wrong
 * path to a huge file is refused instead of read into memory.
 */
export async function readSmallFile(
  file: string,
  flag: string,
  code: LedgerErrorCode,
  hint: string,
): Promise<string> {
  try {
    const { size } = await stat(file);
    if (size > SMALL_INPUT_FILE_BYTES_MAX) {
      throw new LedgerError(
        code,
        `${flag} ${file} is ${size} bytes, more than the ${SMALL_INPUT_FILE_BYTES_MAX} such a file may have; ${hint}`,
        { field: flag },
      );
    }
    return await readFile(file, 'utf8');
  } catch (error) {
    if (isLedgerError(error)) throw error;
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new LedgerError(code, `${flag} ${file} cannot be read (${reason}); ${hint}`, {
      field: flag,
      cause: error,
    });
  }
}

function parseKey<T>(parse: () => T, file: string, flag: string, what: string): T {
  try {
    return parse();
  } catch (error) {
    if (!isLedgerError(error, 'INVALID_KEY')) throw error;
    // The library's message ends with advice for library callers; the command line has its own.
    const problem = error.message.replace(/; create one with createSigningKeyFiles\(\)[\s\S]*$/, '');
    throw new LedgerError('INVALID_KEY', `${file} is not ${what}: ${problem}; ${CREATE_HINT}`, {
      field: flag,
      cause: error,
    });
  }
}

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createSigningKeyFiles,
  isLedgerError,
  loadPublicKeys,
  loadSigningKey,
  rotateSigningKeyFiles,
} from 'execution-ledger';
import {
  encodeCheckpointLeaf,
  encodeHeadLeaf,
  formatCheckpointBody,
  generateSigningKey,
  hashLeaf,
  parseCheckpointBody,
  parsePublicKeys,
  parseSigningKey,
  signNote,
  verifyCheckpointNote,
} from 'execution-ledger/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The signed-note reference key and signature published with Go's sumdb/note package: our
// notes must be byte-compatible with other signed-note implementations.
const NEUMANN_PRIVATE = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const NEUMANN_PUBLIC = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const NEUMANN_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const NEUMANN_SIGNATURE =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

const PINNED_BODY = {
  origin: 'PeterNeumann',
  tree_size: 5,
  root: Buffer.alloc(32, 0x11),
  seq: 2,
  created_at_ms: Date.parse('2026-02-13T10:30:00.000Z'),
  prev_hash: Buffer.alloc(32, 0x22),
  log_root: Buffer.alloc(32, 0x33),
};
const PINNED_NOTE =
  'PeterNeumann\n5\nERERERERERERERERERERERERERERERERERERERERERE=\nseq 2\ntime 2026-02-13T10:30:00.000Z\n' +
  'prev IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\nlog MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=\n\n' +
  '— PeterNeumann x08gozTzsK9ql6df66zq7H3IHVbojJ0oGMscI30dCrW04mONGt/+ZqnbP34tUvEUi5VsoCiMuo9HS5PD3VPtN5VZ1Ag=\n';

function expectLedgerError(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isLedgerError(caught) ? caught.code : caught).toBe(code);
}

describe('checkpoint encodings (pinned)', () => {
  it('a head leaf is tag ‖ 0x00 ‖ int4(len) ‖ project_id ‖ int8(seq) ‖ entry_hash', () => {
    const leaf = encodeHeadLeaf({ project_id: 'proj-001', seq: 3, entry_hash: 'ab'.repeat(32) });
    const expected =
      Buffer.from('execution-ledger/head/v1\u0000').toString('hex') +
      '00000008' +
      Buffer.from('proj-001').toString('hex') +
      '0000000000000003' +
      'ab'.repeat(32);
    expect(leaf.toString('hex')).toBe(expected);
    expect(hashLeaf(leaf).toString('hex')).toBe(
      '2bf80b8fdc363fd9e58625e1426d18456136f4b185f06d0550f1608419addbe6',
    );
  });

  it('a checkpoint leaf is tag ‖ 0x00 ‖ int8(seq) ‖ int8(time ms) ‖ int8(size) ‖ root ‖ prev_hash', () => {
    const leaf = encodeCheckpointLeaf({
      seq: 2,
      createdAtMs: PINNED_BODY.created_at_ms,
      treeSize: 5,
      root: PINNED_BODY.root,
      prevHash: PINNED_BODY.prev_hash,
    });
    const expected =
      Buffer.from('execution-ledger/checkpoint/v1\u0000').toString('hex') +
      '0000000000000002' +
      '0000019c568ce440' +
      '0000000000000005' +
      '11'.repeat(32) +
      '22'.repeat(32);
    expect(leaf.toString('hex')).toBe(expected);
    expect(hashLeaf(leaf).toString('hex')).toBe(
      '5e18d1880fb4289744f550bd060ba489727acac9058e95f9b9b69bca80689f03',
    );
  });

  it('signs notes exactly as the signed-note reference implementation does', () => {
    const key = parseSigningKey(NEUMANN_PRIVATE);
    expect(key.text).toBe(NEUMANN_PUBLIC);
    expect(signNote(NEUMANN_TEXT, key)).toBe(`${NEUMANN_TEXT}\n${NEUMANN_SIGNATURE}`);
  });

  it('a checkpoint note is pinned byte for byte and reads back to the same fields', () => {
    const note = signNote(formatCheckpointBody(PINNED_BODY), parseSigningKey(NEUMANN_PRIVATE));
    expect(note).toBe(PINNED_NOTE);
    const check = verifyCheckpointNote(note, NEUMANN_PUBLIC);
    expect(check.ok && check.checkpoint.seq).toBe(2);
    expect(check.ok && check.checkpoint.root.equals(PINNED_BODY.root)).toBe(true);
    expect(parseCheckpointBody(formatCheckpointBody(PINNED_BODY))).toEqual(PINNED_BODY);
  });
});

describe('checkpoint notes are checked, never trusted', () => {
  it('rejects an edited body, a foreign key, a truncated signature and other spellings of a value', () => {
    const other = generateSigningKey('PeterNeumann');
    const edited = PINNED_NOTE.replace('\n5\n', '\n6\n');
    const cases: [string, unknown, string][] = [
      ['edited body', edited, NEUMANN_PUBLIC],
      ['another key of the same name', PINNED_NOTE, other.publicKeyText],
      ['no signature', PINNED_NOTE.slice(0, PINNED_NOTE.indexOf('\n\n') + 1), NEUMANN_PUBLIC],
      ['cut signature', PINNED_NOTE.replace(/[A-Za-z0-9]{10}=\n$/, '=\n'), NEUMANN_PUBLIC],
      ['not text', 42, NEUMANN_PUBLIC],
    ];
    const accepted = cases
      .filter(([, note, key]) => verifyCheckpointNote(note, key).ok)
      .map(([name]) => name);
    expect(accepted).toEqual([]);
    const leadingZero = formatCheckpointBody(PINNED_BODY).replace('\n5\n', '\n05\n');
    expect(typeof parseCheckpointBody(leadingZero)).toBe('string');
    const signedOdd = signNote(leadingZero, parseSigningKey(NEUMANN_PRIVATE));
    expect(verifyCheckpointNote(signedOdd, NEUMANN_PUBLIC).ok).toBe(false);
  });

  it('INVALID_KEY names the field for a malformed private or public key', () => {
    expectLedgerError(() => parseSigningKey('not a key'), 'INVALID_KEY');
    expectLedgerError(() => parseSigningKey(NEUMANN_PRIVATE.replace('c74f20a3', 'c74f20a4')), 'INVALID_KEY');
    expectLedgerError(() => parsePublicKeys('PeterNeumann+c74f20a3+AAAA'), 'INVALID_KEY');
    expectLedgerError(() => parsePublicKeys(''), 'INVALID_KEY');
    expectLedgerError(() => verifyCheckpointNote(PINNED_NOTE, { nope: true }), 'INVALID_KEY');
    expectLedgerError(() => generateSigningKey('has space'), 'INVALID_KEY');
  });
});

describe('key files', () => {
  let folder = '';
  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'ledger-keys-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('creates a private key only its owner can read and a public key that verifies its notes', async () => {
    const paths = { privateKeyFile: path.join(folder, 'a.key'), publicKeyFile: path.join(folder, 'a.pub') };
    const created = await createSigningKeyFiles({ ...paths, name: 'ledger.example' });
    expect((await stat(paths.privateKeyFile)).mode & 0o777).toBe(0o600);
    const key = await loadSigningKey(paths.privateKeyFile);
    expect(key.keyId).toBe(created.keyId);
    const note = signNote(formatCheckpointBody({ ...PINNED_BODY, origin: 'ledger.example' }), key);
    expect(verifyCheckpointNote(note, await readFile(paths.publicKeyFile, 'utf8')).ok).toBe(true);
  });

  it('KEY_FILE_EXISTS: never overwrites a key, and a refused call leaves both files as they were', async () => {
    const paths = { privateKeyFile: path.join(folder, 'b.key'), publicKeyFile: path.join(folder, 'b.pub') };
    await createSigningKeyFiles(paths);
    const before = [
      await readFile(paths.privateKeyFile, 'utf8'),
      await readFile(paths.publicKeyFile, 'utf8'),
    ];
    const fresh = path.join(folder, 'b-new.key');
    const error = await createSigningKeyFiles({
      privateKeyFile: fresh,
      publicKeyFile: paths.publicKeyFile,
    }).catch((caught: unknown) => caught);
    expect(isLedgerError(error, 'KEY_FILE_EXISTS')).toBe(true);
    const after = [await readFile(paths.privateKeyFile, 'utf8'), await readFile(paths.publicKeyFile, 'utf8')];
    expect(after).toEqual(before);
    await expect(stat(fresh)).rejects.toThrow();
  });

  it('rotation replaces the private key and keeps the old public key, so old and new notes verify', async () => {
    const paths = { privateKeyFile: path.join(folder, 'c.key'), publicKeyFile: path.join(folder, 'c.pub') };
    await createSigningKeyFiles(paths);
    const body = formatCheckpointBody({ ...PINNED_BODY, origin: 'execution-ledger' });
    const oldNote = signNote(body, await loadSigningKey(paths.privateKeyFile));
    const rotated = await rotateSigningKeyFiles(paths);
    const newKey = await loadSigningKey(paths.privateKeyFile);
    expect(newKey.keyId).toBe(rotated.keyId);
    expect(rotated.keyId).not.toBe(rotated.previousKeyId);
    const publicKeys = await loadPublicKeys(paths.publicKeyFile);
    expect(publicKeys.map((key) => key.keyId)).toEqual([rotated.previousKeyId, rotated.keyId]);
    expect(verifyCheckpointNote(oldNote, publicKeys).ok).toBe(true);
    expect(verifyCheckpointNote(signNote(body, newKey), publicKeys).ok).toBe(true);
  });

  it('INVALID_KEY when a key file is missing', async () => {
    const error = await loadSigningKey(path.join(folder, 'missing.key')).catch((caught: unknown) => caught);
    expect(isLedgerError(error, 'INVALID_KEY') && error.field).toBe('privateKeyFile');
  });
});

// `execution-ledger/verify`: the ledger's formats and their offline verification as pure
// functions. Nothing here reads a database: it imports neither pg nor PGlite (nor any module
// that does), so an auditor's script checks an export with only this package's pure
// dependencies installed. docs/api.md lists these names; docs/architecture.md the layer.

export { canonicalJson } from './format/canonical-json.js';
export type { ChainProblem, VerificationReport } from './format/chain-verifier.js';
export type { CheckpointBody, ProjectHead } from './format/checkpoint-encoding.js';
export {
  encodeCheckpointLeaf,
  encodeHeadLeaf,
  formatCheckpointBody,
  parseCheckpointBody,
} from './format/checkpoint-encoding.js';
export type {
  Checkpoint,
  CheckpointCheck,
  ConsistencyProof,
  DivergedProject,
  ProjectProof,
} from './format/checkpoint-types.js';
export type { NoteCheck, VerifiedCheckpoint } from './format/checkpoint-verifier.js';
export {
  verifyCheckpointNote,
  verifyConsistencyProof,
  verifyProjectProof,
} from './format/checkpoint-verifier.js';
export type { ChainPosition } from './format/entry-hash.js';
export { computeEntryHash, genesisHash } from './format/entry-hash.js';
export type { ExportVerificationInput, ExportVerificationReport } from './format/export-verifier.js';
export { verifyExport } from './format/export-verifier.js';
export {
  computePayloadHash,
  HASH_VERSION,
  HASH_VERSIONS,
  type HashVersion,
  payloadHashText,
} from './format/hash-versions.js';
export { canonicalJsonOfJsonbText } from './format/jsonb-canonical-json.js';
export { type JsonbInput, JsonNumberText, jsonbText, numericText } from './format/jsonb-text.js';
export {
  consistencyProof,
  emptyTreeRoot,
  hashChildren,
  hashLeaf,
  inclusionProof,
  merkleRoot,
} from './format/merkle-tree.js';
export type { ProofCheck } from './format/merkle-verifier.js';
export { verifyConsistency, verifyInclusion } from './format/merkle-verifier.js';
export type { ExportLines } from './format/ndjson-lines.js';
export {
  REPLAY_BLOB_LINE_KEY,
  type ReplayBlobLine,
  replayBlobProblem,
  stepBlobHashes,
} from './format/replay-blob-lines.js';
export { signNote } from './format/signed-note.js';
export type { GeneratedKey, NoteVerifierKey, SigningKey } from './format/signing-key.js';
export {
  DEFAULT_KEY_NAME,
  generateSigningKey,
  parsePublicKeys,
  parseSigningKey,
} from './format/signing-key.js';
export type { EntryPayload, ExecutionRecord } from './types.js';

/**
 * Schemas of signed checkpoints, inclusion proofs and the checkpoint part of a verification
 * report. Hashes are lower-case hex, as everywhere in the API; the note carries them in base64.
 */
const hexHash = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

const headSchema = {
  type: 'object',
  required: ['seq', 'entry_hash'],
  properties: { seq: { type: 'integer' }, entry_hash: hexHash },
} as const;

export const checkpointSchema = {
  type: 'object',
  description: 'A stored checkpoint. Keep a copy of `note` outside the database: it is what auditors check.',
  required: [
    'seq',
    'created_at',
    'tree_size',
    'root',
    'prev_hash',
    'log_root',
    'origin',
    'key_id',
    'checkpoint_hash',
    'note',
  ],
  properties: {
    seq: { type: 'integer', minimum: 1 },
    created_at: { type: 'string', format: 'date-time' },
    tree_size: { type: 'integer', description: 'How many project heads the checkpoint commits to.' },
    root: { ...hexHash, description: 'Root of the RFC 6962 Merkle tree over the project heads.' },
    prev_hash: { ...hexHash, description: "SHA-256 of the previous checkpoint's signed text." },
    log_root: { ...hexHash, description: 'Root of the tree over checkpoints 1..seq.' },
    origin: { type: 'string', description: 'The signing key name.' },
    key_id: { type: 'string', pattern: '^[0-9a-f]{8}$' },
    checkpoint_hash: hexHash,
    note: { type: 'string', description: 'The signed note (c2sp.org signed-note), as text.' },
  },
} as const;

export const projectProofSchema = {
  type: 'object',
  description:
    "The inclusion proof of a project's head in a checkpoint: sibling hashes only, nothing of other projects.",
  required: ['project_id', 'checkpoint_seq', 'tree_size', 'leaf_index', 'head', 'path'],
  properties: {
    project_id: { type: 'string' },
    checkpoint_seq: { type: 'integer', minimum: 1 },
    tree_size: { type: 'integer' },
    leaf_index: { type: 'integer' },
    head: headSchema,
    path: { type: 'array', items: hexHash, description: "From the leaf's sibling up to the root." },
  },
} as const;

export const checkpointCheckSchema = {
  type: ['object', 'null'],
  description: 'The comparison with the newest signed checkpoint; null when none exists.',
  required: ['ok', 'seq', 'tree_size', 'head', 'signature', 'reason', 'entries_after_checkpoint'],
  properties: {
    ok: { type: 'boolean' },
    seq: { type: 'integer' },
    tree_size: { type: 'integer' },
    head: { ...headSchema, type: ['object', 'null'] },
    signature: { type: 'string', enum: ['valid', 'invalid', 'not_checked'] },
    reason: { type: ['string', 'null'] },
    entries_after_checkpoint: { type: 'integer' },
  },
} as const;

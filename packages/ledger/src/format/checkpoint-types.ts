/** A stored checkpoint. Hashes are lower-case hex here; the note carries them in base64. */
export interface Checkpoint {
  seq: number;
  /** ISO 8601 UTC with milliseconds, as signed in the note. */
  created_at: string;
  /** How many project heads the tree holds. */
  tree_size: number;
  root: string;
  prev_hash: string;
  /** Root of the checkpoint log: the tree over checkpoints 1..seq, used by consistency proofs. */
  log_root: string;
  origin: string;
  key_id: string;
  /** SHA-256 of the signed body: the next checkpoint's prev_hash. */
  checkpoint_hash: string;
  /** The portable signed note: keep a copy outside the database. */
  note: string;
}

/** A project whose live chain no longer holds the head the previous checkpoint committed to. */
export interface DivergedProject {
  project_id: string;
  /** The head that keeps being committed to, so the tampering stays visible. */
  committed_head: { seq: number; entry_hash: string };
  reason: string;
}

export interface CheckpointResult {
  /** False when `onlyIfChanged` was set and no head moved: `checkpoint` is then the newest one. */
  created: boolean;
  checkpoint: Checkpoint | null;
  /** Projects whose head moved since the previous checkpoint. */
  heads_changed: number;
  diverged: DivergedProject[];
}

/** The inclusion proof of one project's head in one checkpoint's heads tree. */
export interface ProjectProof {
  project_id: string;
  checkpoint_seq: number;
  tree_size: number;
  leaf_index: number;
  head: { seq: number; entry_hash: string };
  /** Hex node hashes from the leaf's sibling up to the root's child (RFC 6962 PATH). */
  path: string[];
}

/** Shows that the checkpoint log at `newer_seq` extends the one at `older_seq` (RFC 6962 PROOF). */
export interface ConsistencyProof {
  older_seq: number;
  newer_seq: number;
  path: string[];
}

/** What verification found when it compared a project's chain with a signed checkpoint. */
export interface CheckpointCheck {
  ok: boolean;
  /** The checkpoint compared against. */
  seq: number;
  tree_size: number;
  /** The head the checkpoint commits to for this project; null when it does not cover the project. */
  head: { seq: number; entry_hash: string } | null;
  /** Whether the note's signature was checked with a public key, and how that went. */
  signature: 'valid' | 'invalid' | 'not_checked';
  reason: string | null;
  /** Entries after the committed head: chained to it, anchored by the next checkpoint. */
  entries_after_checkpoint: number;
}

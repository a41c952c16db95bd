import { parentPort } from 'node:worker_threads';
import { rehashEntries, type StoredEntry } from './entry-rehash.js';

// A verification worker: hashes each batch it is sent and answers in the order it was asked.
parentPort?.on('message', (entries: StoredEntry[]) => {
  parentPort?.postMessage(rehashEntries(entries));
});

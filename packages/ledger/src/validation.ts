// `execution-ledger/validation`: the ledger's own input checks, for code that must refuse bad
// input before it reaches the ledger (the server checks ids in URLs with requireId). Both throw
// the LedgerError that recordExecution would.
export { normalizeExecution, requireId } from './record.js';

import { type Command, InvalidArgumentError } from 'commander';
import type { DatabaseOptions } from '../open-ledger.js';

/** The options every command sees: where the ledger is, and how to print. */
export interface GlobalOptions extends DatabaseOptions {
  json?: boolean;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** Adds an example to a command's --help. */
export function withExample(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExample:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`);
}

export function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError('expected a whole number of 1 or more');
  return value;
}

export function isoDate(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError('expected a date such as 2026-02-13 or 2026-02-13T10:00:00Z');
  return date;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

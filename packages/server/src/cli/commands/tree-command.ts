import type { Command } from 'commander';
import type { LineageOptions, RunTree, RunTreeNode } from 'execution-ledger';
import { dollars, printJson, wantsJson } from '../cli-output.js';
import { withLedger } from '../open-ledger.js';
import { globalOptions, positiveInteger, withExample } from './command-options.js';

interface TreeOptions {
  maxDepth?: number;
  maxNodes?: number;
  below?: boolean;
}

/** `tree <runId>`: the run's whole tree (or, with --below, the runs it triggered), indented. */
export function registerTreeCommand(program: Command): void {
  const tree = program
    .command('tree')
    .description("show a run's lineage: its root, every run below, each run's own and subtree cost")
    .argument('<runId>')
    .option('--max-depth <n>', 'parent links followed at most (default 1000)', positiveInteger)
    .option('--max-nodes <n>', 'runs shown at most (default 10000)', positiveInteger)
    .option('--below', 'only the runs this run triggered, with it as the root')
    .action(async (runId: string, options: TreeOptions, self: Command) => {
      const global = globalOptions(self);
      const lineage: LineageOptions = {};
      if (options.maxDepth !== undefined) lineage.maxDepth = options.maxDepth;
      if (options.maxNodes !== undefined) lineage.maxNodes = options.maxNodes;
      await withLedger(global, async (ledger) => {
        const answer =
          options.below === true
            ? await ledger.getDescendants(runId, lineage)
            : await ledger.getRunTree(runId, lineage);
        if (wantsJson(global)) printJson(answer);
        else process.stdout.write(formatTree(answer));
      });
    });
  withExample(
    tree,
    'execution-ledger tree run-12345-abc',
    'execution-ledger tree run-12345-abc --below --json',
  );
}

/** The tree indented two spaces per level, children oldest first, then what the walk met. */
export function formatTree(tree: RunTree): string {
  const byId = new Map(tree.nodes.map((node) => [node.run_id, node]));
  const lines: string[] = [];
  const describe = (node: RunTreeNode) => {
    const marker = node.run_id === tree.run_id ? '  <' : '';
    if (!node.recorded)
      return `${node.run_id}  (not recorded)  subtree ${dollars(node.subtree_cost)}${marker}`;
    return (
      `${node.run_id}  ${node.status}  ${node.agent_id}  own ${dollars(node.cost)}  ` +
      `subtree ${dollars(node.subtree_cost)}${marker}`
    );
  };
  // Depth first with an explicit stack: a deep tree must not exhaust the call stack.
  const root = tree.nodes[0];
  const stack: RunTreeNode[] = root === undefined ? [] : [root];
  while (stack.length > 0) {
    const node = stack.pop() as RunTreeNode;
    lines.push(`${'  '.repeat(node.depth)}${describe(node)}`);
    for (const child of [...node.children].reverse()) {
      const next = byId.get(child);
      if (next !== undefined) stack.push(next);
    }
  }
  lines.push(`${tree.node_count} runs, total ${dollars(tree.total_cost)}`);
  if (tree.missing_parent !== null)
    lines.push(`the root ${tree.missing_parent} is named as a parent but not recorded`);
  if (tree.cycle !== null) lines.push(`cycle: ${tree.cycle.join(' -> ')} -> ${tree.cycle[0]}`);
  if (tree.depth_exceeded) lines.push('stopped at --max-depth: runs beyond it are not shown or counted');
  if (tree.nodes_exceeded) lines.push('stopped at --max-nodes: runs beyond it are not shown or counted');
  return `${lines.join('\n')}\n`;
}

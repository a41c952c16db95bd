import { randomUUID } from 'node:crypto';
import { ENGINES, type EngineName, makeExecution } from '@execution-ledger/test-support';
import { describe, expect, it } from 'vitest';
import { cliDatabase, runCli, useCliDatabase } from './support/cli-process.js';
import { tamperDayRollup } from './support/tamper.js';

const CLI_ENGINES: EngineName[] = ENGINES.includes('postgres') ? ['postgres'] : ['pglite'];

describe.each(CLI_ENGINES)('execution-ledger rollups [%s]', (engine) => {
  const project = `proj-${randomUUID()}`;
  const cli = useCliDatabase(engine);
  const runs = [0, 1, 2].map((index) =>
    makeExecution(project, {
      agent_id: `agent-${index % 2}`,
      cost: { total: 10 + index, breakdown: { tokens: 10 + index } },
    }),
  );

  it('verifies a project, finds a changed day row (exit 7 and its level), rebuilds it, verifies again', async () => {
    expect((await cli(['record'], JSON.stringify(runs))).code).toBe(0);
    const good = await cli(['rollups', 'verify', '--project', project]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(new RegExp(`${project}\\s+verified\\s+\\d+`));
    const report = JSON.parse((await cli(['--json', 'rollups', 'verify', '--project', project])).stdout);
    expect(report).toMatchObject({ ok: true, project_id: project, steps: { ok: true } });
    expect(report.levels.map((level: { level: string }) => level.level)).toContain('day');

    await tamperDayRollup(cli.target(), project);
    const bad = await cli(['rollups', 'verify', '--project', project]);
    expect(bad.code).toBe(7);
    expect(bad.stdout).toMatch(new RegExp(`${project}\\s+DISAGREES\\s+\\d+\\s+day\\b`));
    expect(bad.stdout).toMatch(
      new RegExp(`${project}: day \\d{4}-\\d\\d-\\d\\dT00:00:00.000Z \\(agent agent-\\d\\): `),
    );
    expect(bad.stdout).toContain(`repair: execution-ledger rollups rebuild --project ${project}`);

    const rebuilt = await cli(['rollups', 'rebuild', '--project', project]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toMatch(/^day\s+2$/m);
    expect(rebuilt.stdout).toContain('rebuilt 1 project:');
    expect((await cli(['rollups', 'verify', '--project', project])).code).toBe(0);
  });

  it('keeps a project’s days in a zone, lists it, and refuses an unknown zone changing nothing', async () => {
    const kept = await cli(['rollups', 'keep-zone', 'Asia/Kolkata', '--project', project]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(
      new RegExp(`project ${project} keeps its days in Asia/Kolkata: [12] day groups written`),
    );
    const listed = async () =>
      JSON.parse((await cli(['--json', 'rollups', 'zones', '--project', project])).stdout);
    expect(await listed()).toEqual([
      { project_id: project, time_zone: 'Asia/Kolkata', added_at: expect.stringMatching(/Z$/) },
    ]);
    expect((await cli(['rollups', 'zones', '--project', project])).stdout).toMatch(
      new RegExp(`${project}\\s+Asia/Kolkata\\s+\\d{4}-`),
    );
    for (const zone of ['Mars/Olympus_Mons', 'UTC']) {
      const refused = await cli(['rollups', 'keep-zone', zone, '--project', project]);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(
        /VALIDATION_FAILED: timeZone .*Asia\/Kolkata|VALIDATION_FAILED: timeZone .*Europe\/Paris/,
      );
    }
    expect(await listed()).toHaveLength(1);
    expect((await cli(['rollups', 'verify', '--project', project])).code).toBe(0);
  });

  it('folds on demand, finding nothing left after `record`, which folds before it exits', async () => {
    const other = `proj-${randomUUID()}`;
    expect((await cli(['record'], JSON.stringify([makeExecution(other)]))).code).toBe(0);
    const folded = await cli(['rollups', 'fold', '--project', other]);
    expect(folded.code, folded.stderr).toBe(0);
    expect(folded.stdout).toBe('folded 0 runs of 0 projects into the rollup levels\n');
    const json = await cli(['--json', 'rollups', 'fold']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ projects: expect.any(Number), entries: expect.any(Number) });
    const refused = await cli(['rollups', 'fold', '--project', ' padded ']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/VALIDATION_FAILED: projectId /);
  });

  it('refuses a command line without exactly one target, naming the options', async () => {
    for (const args of [
      ['rollups', 'verify'],
      ['rollups', 'rebuild', '--project', project, '--all'],
    ]) {
      const refused = await cli(args);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain('needs exactly one of --project <id> or --all');
    }
    const missing = await cli(['rollups', 'keep-zone', 'Asia/Kolkata']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--project <id>' not specified");
  });
});

describe('execution-ledger rollups over every project of an embedded folder', () => {
  it('verifies and rebuilds --all, with progress on stderr', async () => {
    const folder = await cliDatabase('pglite');
    try {
      const cli = (args: string[], input?: string) =>
        runCli(['--database', folder.target, ...args], input === undefined ? {} : { input });
      const projects = ['proj-a', 'proj-b'];
      const recorded = await cli(['record'], JSON.stringify(projects.map((id) => makeExecution(id))));
      expect(recorded.code, recorded.stderr).toBe(0);
      const verified = await cli(['--json', 'rollups', 'verify', '--all']);
      expect(verified.code, verified.stderr).toBe(0);
      expect(
        JSON.parse(verified.stdout).map((report: { project_id: string; ok: boolean }) => [
          report.project_id,
          report.ok,
        ]),
      ).toEqual([
        ['proj-a', true],
        ['proj-b', true],
      ]);
      expect(verified.stderr).toContain('rollups verify: 2 / 2 projects (100%)');
      const rebuilt = JSON.parse((await cli(['--json', 'rollups', 'rebuild', '--all'])).stdout);
      expect(rebuilt).toMatchObject({ projects: 2, levels: { hour: 2, day: 2, month: 2, year: 2 } });
    } finally {
      await folder.cleanup();
    }
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CommandEnv } from '../../../src/cli/command.js';
import { loadCommands } from '../../../src/cli/commands/index.js';
import { allCommands, commandExamples, commandPath } from '../../../src/cli/examples.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput, createReporter } from '../../../src/cli/output.js';
import { colourWanted, createSilentLogger } from '../../../src/logging/logger.js';
import { systemClock } from '../../../src/context.js';
import { installed } from '../../helpers/programs.js';

/** The whole command tree as `pgfollower --help` registers it. */
async function commandTree(): Promise<Command> {
  const program = new Command('pgfollower');
  const env = {
    output: createMemoryOutput(),
    signal: new AbortController().signal,
    env: {},
    globals: () => ({}),
    context: () => Promise.reject(new Error('not in this test')),
    setExitCode: () => undefined,
    invoke: () => Promise.resolve(0),
  } satisfies CommandEnv;
  for (const register of await loadCommands([])) register(program, env);
  return program;
}

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const output = createMemoryOutput();
  const code = await main(argv, { output, env: {} });
  return { code, out: output.stdout.join('\n'), err: output.stderr.join('\n') };
}

describe('CLI polish', () => {
  it('--version and -V print the version from package.json', async () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const r = await run([flag]);
      expect(r.code).toBe(0);
      expect(r.out.trim()).toBe(pkg.version);
    }
  });

  it('every command has examples in its --help, and every example names a real command', async () => {
    const paths = allCommands(await commandTree())
      .map(commandPath)
      .sort();
    expect(paths.length).toBeGreaterThan(15);
    expect(Object.keys(commandExamples).sort()).toEqual(paths);
    for (const path of paths) {
      const r = await run([...path.split(' '), '--help']);
      expect(r.code, path).toBe(0);
      expect(r.out, path).toMatch(/\nExamples:\n {2}\$ /);
      for (const example of commandExamples[path] ?? []) expect(r.out, path).toContain(example);
    }
    const top = await run(['--help']);
    expect(top.out).toMatch(/-V, --version/);
    expect(top.out).toMatch(/Examples:/);
  });

  it('every read command takes --json', async () => {
    const tree = await commandTree();
    const read = ['status', 'check', 'doctor', 'archive check', 'archive command', 'alerts status'];
    for (const path of read) {
      const command = allCommands(tree).find((c) => commandPath(c) === path);
      expect(command, path).toBeDefined();
      expect(
        command?.options.some((o) => o.long === '--json'),
        path,
      ).toBe(true);
    }
  });

  it('archive command --json prints the archive_command as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgf-cli-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(
      file,
      `node: { dataDirectory: ${dir}/data }\narchive: { type: fs, fs: { path: ${dir}/a } }\n`,
    );
    const r = await run(['--config', file, '--log-level', 'silent', 'archive', 'command', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { archiveCommand: string };
    expect(doc.archiveCommand).toMatch(/wal-push %p/);
  });

  it('bash completion completes commands, subcommands and options', async () => {
    const r = await run(['completion', 'bash']);
    expect(r.code).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'pgf-completion-'));
    const script = join(dir, 'pgfollower.bash');
    writeFileSync(script, r.out);
    const complete = (words: string[]): string[] =>
      execFileSync(
        'bash',
        [
          '-c',
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _pgfollower; printf '%s\\n' "\${COMPREPLY[@]}"`,
          'bash',
          script,
          ...words,
        ],
        { encoding: 'utf8' },
      )
        .split('\n')
        .filter(Boolean);
    expect(complete(['pgfollower', 'arch'])).toEqual(['archive']);
    expect(complete(['pgfollower', 'do'])).toEqual(['doctor']);
    expect(complete(['pgfollower', '--config', 'x.yaml', 'archive', 'c']).sort()).toEqual([
      'check',
      'command',
    ]);
    expect(complete(['pgfollower', 'status', '--j'])).toEqual(['--json']);
    expect(complete(['pgfollower', 'check', '--crit-'])).toEqual(['--crit-lag', '--crit-seconds']);
    expect(complete(['pgfollower', '--log-level', 'de'])).toEqual(['debug']);
  });

  it.skipIf(!installed('zsh'))('zsh completion is valid zsh', async () => {
    const r = await run(['completion', 'zsh']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^#compdef pgfollower/);
    const dir = mkdtempSync(join(tmpdir(), 'pgf-completion-'));
    const script = join(dir, '_pgfollower');
    writeFileSync(script, r.out);
    execFileSync('zsh', ['-n', script]);
    // Sourced, it registers _pgfollower for pgfollower (compdef stubbed: compinit is slow to load).
    const out = execFileSync(
      'zsh',
      ['-f', '-c', `compdef() { print -r -- "$*" }; source "\${1}"; whence -w _pgfollower`, 'zsh', script],
      { encoding: 'utf8' },
    );
    expect(out.trim().split('\n')).toEqual(['_pgfollower pgfollower', '_pgfollower: function']);
  });

  it('completion refuses an unknown shell with a usage error', async () => {
    const r = await run(['completion', 'fish']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/write bash or zsh/);
  });

  it('colours only on a terminal, never with NO_COLOR or TERM=dumb', () => {
    expect(colourWanted({ isTTY: true }, {})).toBe(true);
    expect(colourWanted({ isTTY: false }, {})).toBe(false);
    expect(colourWanted({}, {})).toBe(false);
    expect(colourWanted({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourWanted({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colourWanted({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
  });

  it('progress off a terminal is log lines, not a bar or step marks', () => {
    const output = createMemoryOutput();
    const lines: string[] = [];
    const logger = createSilentLogger();
    logger.info = ((msg: unknown) => {
      lines.push(String(typeof msg === 'string' ? msg : JSON.stringify(msg)));
    }) as typeof logger.info;
    const reporter = createReporter(output, logger, systemClock);
    reporter.step('copying');
    reporter.progress(5 * 1048576, 10 * 1048576, 'copy');
    reporter.progressEnd();
    expect(output.stderr).toEqual([]);
    expect(output.stdout).toEqual([]);
    expect(lines.length).toBe(2);
  });
});

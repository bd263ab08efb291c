import type { Command } from 'commander';

/**
 * One or more examples for every command's --help, by command path. A test walks the command tree
 * and fails when a command has none (test/unit/cli/main.help.test.ts).
 */
export const commandExamples: Record<string, readonly string[]> = {
  bootstrap: [
    'pgfollower --config /etc/pgfollower/pgfollower.yaml bootstrap',
    'pgfollower bootstrap -D /var/lib/postgresql/15/main --leader "host=10.0.0.1 user=replicator" --max-rate 100M',
    'pgfollower bootstrap --from-archive --tablespace-mapping /srv/ts1=/srv/replica/ts1 --yes',
  ],
  run: ['pgfollower --config /etc/pgfollower/pgfollower.yaml run', 'pgfollower run --listen 10.0.0.2:8008'],
  status: ['pgfollower status', 'pgfollower status --json | jq .lagBytes'],
  check: [
    'pgfollower check --warn-lag 64MB --crit-lag 1GB --warn-seconds 1m --crit-seconds 5m',
    'pgfollower check --json',
  ],
  promote: [
    'pgfollower promote --dry-run',
    'pgfollower promote --peers http://10.0.0.3:8008',
    'pgfollower promote --yes --json | jq .zeroLoss',
  ],
  follow: [
    'pgfollower follow --dry-run --leader "host=10.0.0.2 user=replicator"',
    'pgfollower follow --yes --direct --leader "host=10.0.0.2 user=replicator"',
  ],
  rebuild: [
    'pgfollower rebuild --dry-run',
    'pgfollower rebuild --leader "host=10.0.0.2 user=replicator" --yes',
    'pgfollower rebuild --from-archive --tablespace-mapping /srv/ts1=/srv/ts1-rebuilt --yes',
  ],
  'wal-push': ["archive_command = 'pgfollower --config /etc/pgfollower/pgfollower.yaml wal-push %p'"],
  'wal-fetch': ["restore_command = 'pgfollower --config /etc/pgfollower/pgfollower.yaml wal-fetch %f %p'"],
  archive: ['pgfollower archive check', 'pgfollower archive command'],
  'archive check': [
    'pgfollower archive check',
    'pgfollower archive check --start 000000010000000000000010 --json',
  ],
  'archive prefetch': ['pgfollower --config /etc/pgfollower/pgfollower.yaml archive prefetch'],
  'archive push-ahead': ['pgfollower archive push-ahead -D /var/lib/postgresql/15/main'],
  'archive command': ['pgfollower archive command', 'pgfollower archive command --json'],
  alerts: ['pgfollower alerts test', 'pgfollower alerts status'],
  maintenance: [
    "pgfollower maintenance on --for 2h --reason 'leader upgrade'",
    'pgfollower maintenance status',
    'pgfollower maintenance off',
  ],
  'alerts status': ['pgfollower alerts status', 'pgfollower alerts status --json'],
  'alerts test': ['pgfollower alerts test', 'pgfollower alerts test --channel oncall --no-resolve'],
  backup: ['pgfollower backup', 'pgfollower backup --source leader --json'],
  'backup list': ['pgfollower backup list', 'pgfollower backup list --json'],
  'backup verify': ['pgfollower backup verify', 'pgfollower backup verify 20261202T010000Z'],
  'backup expire': ['pgfollower backup expire --dry-run', 'pgfollower backup expire --keep 5'],
  estimate: ['pgfollower estimate', 'pgfollower estimate --outage 4h --target-restore 30m --json'],
  doctor: ['pgfollower --config /etc/pgfollower/pgfollower.yaml doctor', 'pgfollower doctor --json'],
  demo: ['pgfollower demo', 'pgfollower demo --duration 30s', 'pgfollower demo --scenario failover'],
  completion: [
    'pgfollower completion bash > /etc/bash_completion.d/pgfollower',
    'pgfollower completion zsh > "${fpath[1]}/_pgfollower"',
  ],
};

/** The path of a command below the program: `archive check`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command below `program`, depth first. */
export function allCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Adds the examples after each registered command's help. */
export function addExamples(program: Command): void {
  program.addHelpText(
    'after',
    [
      '',
      'Examples:',
      '  $ pgfollower --config /etc/pgfollower/pgfollower.yaml doctor',
      '  $ pgfollower status --json',
      '  $ pgfollower help promote',
    ].join('\n'),
  );
  for (const command of allCommands(program)) {
    const examples = commandExamples[commandPath(command)];
    if (!examples) continue;
    command.addHelpText('after', ['', 'Examples:', ...examples.map((e) => `  $ ${e}`)].join('\n'));
  }
}

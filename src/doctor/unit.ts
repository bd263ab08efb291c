import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { execa } from 'execa';
import type { Context } from '../context.js';
import { selfCommand } from '../exec/self.js';
import { messageOf, skipped, type DoctorCheck } from './types.js';

/** Where systemd looks for units, most specific first. */
const unitSearchPath = [
  '/etc/systemd/system/pgfollower.service',
  '/run/systemd/system/pgfollower.service',
  '/usr/local/lib/systemd/system/pgfollower.service',
  '/usr/lib/systemd/system/pgfollower.service',
  '/lib/systemd/system/pgfollower.service',
];

/** The few unit keys doctor compares, from `[Service]`. */
interface UnitFacts {
  user: string;
  execStart: string | undefined;
  configFile: string | undefined;
  readWritePaths: string[];
  protectSystemStrict: boolean;
}

export function parseUnit(text: string): UnitFacts {
  const facts: UnitFacts = {
    user: 'root',
    execStart: undefined,
    configFile: undefined,
    readWritePaths: [],
    protectSystemStrict: false,
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value = ''] = match;
    if (key === 'User') facts.user = value.trim();
    else if (key === 'ExecStart')
      facts.execStart = value
        .trim()
        .replace(/^[-@:+!]+/, '')
        .split(/\s+/)[0];
    else if (key === 'Environment') {
      const env = /(?:^|\s)"?PGFOLLOWER_CONFIG=([^"\s]+)/.exec(value);
      if (env) facts.configFile = env[1];
    } else if (key === 'ReadWritePaths')
      facts.readWritePaths.push(
        ...value
          .split(/\s+/)
          .filter(Boolean)
          .map((p) => p.replace(/^-/, '')),
      );
    else if (key === 'ProtectSystem') facts.protectSystemStrict = value.trim() === 'strict';
  }
  return facts;
}

export async function checkUnit(ctx: Context, unitFile: string | undefined): Promise<DoctorCheck> {
  const file = unitFile ?? unitSearchPath.find((p) => existsSync(p));
  if (!file)
    return skipped(
      'systemd-unit',
      'no pgfollower.service installed (fine if systemd does not run pgfollower here)',
    );
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { name: 'systemd-unit', status: 'fail', detail: messageOf(error), fix: `check ${file}` };
  }
  const unit = parseUnit(text);
  const problems: string[] = [];
  const fixes: string[] = [];
  const { config } = ctx;

  if (!unit.execStart) problems.push('no ExecStart');
  else if (!existsSync(unit.execStart)) {
    problems.push(`ExecStart ${unit.execStart} does not exist`);
    fixes.push('install with npm install --global --prefix /usr (README) or correct ExecStart');
  } else if (sameFile(unit.execStart, selfCommand()[1]) === false) {
    problems.push(`ExecStart ${unit.execStart} is another pgfollower than this one (${selfCommand()[1]})`);
    fixes.push('point ExecStart at the pgfollower you run, or remove the other install');
  }
  const configFile = ctx.configFile ? resolve(ctx.configFile) : undefined;
  if (configFile && unit.configFile && resolve(unit.configFile) !== configFile) {
    problems.push(`the unit reads ${unit.configFile}, this run read ${configFile}`);
    fixes.push(`set Environment=PGFOLLOWER_CONFIG=${configFile} in the unit (systemctl edit pgfollower)`);
  }
  const uid = await uidOf(unit.user);
  if (uid === undefined) {
    problems.push(`User=${unit.user} does not exist`);
    fixes.push('set User= to the PostgreSQL OS user (postgres)');
  } else {
    const dataDirectory = config.node.dataDirectory;
    if (dataDirectory && existsSync(dataDirectory) && uid !== 0 && statSync(dataDirectory).uid !== uid) {
      problems.push(`User=${unit.user} does not own ${dataDirectory}`);
      fixes.push('run the unit as the owner of the data directory (User=postgres)');
    }
    const readFile = unit.configFile ?? configFile;
    if (readFile && existsSync(readFile) && uid !== 0) {
      const stat = statSync(readFile);
      if (stat.uid !== uid && (stat.mode & 0o044) === 0) {
        problems.push(`User=${unit.user} cannot read ${readFile}`);
        fixes.push(`chown ${unit.user} ${readFile}`);
      }
    }
  }
  if (unit.protectSystemStrict && config.node.dataDirectory) {
    const dir = resolve(config.node.dataDirectory);
    if (!unit.readWritePaths.some((p) => dir === p || dir.startsWith(`${p.replace(/\/$/, '')}/`))) {
      problems.push(
        `ProtectSystem=strict and ${dir} is not under ReadWritePaths (${unit.readWritePaths.join(' ') || 'none'})`,
      );
      fixes.push(`add ${dirname(dir)} to ReadWritePaths (systemctl edit pgfollower)`);
    }
  }
  if (problems.length > 0)
    return {
      name: 'systemd-unit',
      status: 'fail',
      detail: `${file}: ${problems.join('; ')}`,
      fix: [...new Set(fixes)].join('; ') || `correct ${file}`,
    };
  return {
    name: 'systemd-unit',
    status: 'ok',
    detail: `${file}: User=${unit.user}, ${unit.execStart ?? '?'}, config ${unit.configFile ?? '(none)'}`,
  };
}

function sameFile(a: string, b: string): boolean | undefined {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return undefined;
  }
}

async function uidOf(user: string): Promise<number | undefined> {
  if (/^\d+$/.test(user)) return Number(user);
  const result = await execa('getent', ['passwd', user], { reject: false });
  const uid = Number(String(result.stdout).split(':')[2]);
  return result.exitCode === 0 && Number.isInteger(uid) ? uid : undefined;
}

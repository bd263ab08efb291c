/**
 * `pgfollower doctor`: checks this host and says what to fix, one finding per line. A check is
 * `ok`, `fail` (with a fix), or `skip` (does not apply here, or a check it depends on failed and
 * said so). The command exits 0 only when nothing failed.
 */
export type DoctorStatus = 'ok' | 'fail' | 'skip';

export interface DoctorCheck {
  name: string;
  status: DoctorStatus;
  detail: string;
  /** What to do, for a failed check. */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  configFile: string | null;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  /** The systemd unit to check; default: the installed pgfollower.service, if any. */
  unitFile?: string | undefined;
  /** Largest clock difference between leader and this host that passes. */
  maxClockSkewMs?: number;
}

export function skipped(name: string, detail: string): DoctorCheck {
  return { name, status: 'skip', detail };
}

export function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, '; ');
}

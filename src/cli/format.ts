import type { CheckResult } from '../errors.js';

/** A checklist, one line per check with its numbers: how refusals and pre-flights are shown. */
export function formatChecklist(checks: readonly CheckResult[]): string {
  return checks
    .map((c) => {
      const mark = c.ok ? '[ ok ]' : c.forceable ? '[FAIL] (--force overrides)' : '[FAIL]';
      const numbers = c.numbers
        ? ` (${Object.entries(c.numbers)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')})`
        : '';
      return `${mark} ${c.name}: ${c.detail}${numbers}`;
    })
    .join('\n');
}

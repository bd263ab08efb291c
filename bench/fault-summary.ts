// Sums the fault ledger written by the fault tests (PGF_FAULT_REPORT=FILE, JSON lines):
// faults injected, survived (invariants held), rows lost, per step and fault.
//   PGF_FAULT_REPORT=/tmp/faults.jsonl npx vitest run test/integration/faults
//   npm run build && node dist/bench/fault-summary.js /tmp/faults.jsonl
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? process.env.PGF_FAULT_REPORT;
if (!file) {
  console.error('usage: node dist/bench/fault-summary.js FILE (the PGF_FAULT_REPORT of a test run)');
  process.exit(2);
}
interface Row {
  event: 'injected' | 'survived';
  step: string;
  fault: string;
  survived?: boolean;
  rowsLost?: number;
}
const rows = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line) as Row);
const byKey = new Map<string, { injected: number; survived: number; rowsLost: number }>();
for (const r of rows) {
  // Seeds differ per run; the matrix groups by fault.
  const fault = r.fault.replace(/, seed \d+\)/, ')').replace(/ \(seed \d+\)/, '');
  const key = `${r.step} | ${fault}`;
  const entry = byKey.get(key) ?? { injected: 0, survived: 0, rowsLost: 0 };
  if (r.event === 'injected') entry.injected += 1;
  if (r.event === 'survived') {
    if (r.survived) entry.survived += 1;
    entry.rowsLost += r.rowsLost ?? 0;
  }
  byKey.set(key, entry);
}
let injected = 0;
let survived = 0;
let lost = 0;
console.log('| step | fault | injected | survived | rows lost |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const [key, e] of [...byKey].sort()) {
  const [step, fault] = key.split(' | ');
  console.log(`| ${step} | ${fault} | ${e.injected} | ${e.survived} | ${e.rowsLost} |`);
  injected += e.injected;
  survived += e.survived;
  lost += e.rowsLost;
}
console.log(`\nfaults injected: ${injected}; survived: ${survived}; rows lost: ${lost}`);
if (survived < injected || lost > 0) process.exitCode = 1;

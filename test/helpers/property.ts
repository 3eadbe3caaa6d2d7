/**
 * A fast-check property as a tap assertion: it fails, with fast-check's report (seed
 * and counterexample), when the property does not hold.
 */
import fc, { type RunDetails } from 'fast-check';
import type { Test } from 'tap';

export function propertyHolds<Ts>(t: Test, details: RunDetails<Ts>, message: string): void {
  t.notOk(details.failed, details.failed ? (fc.defaultReportMessage(details) ?? message) : message);
}

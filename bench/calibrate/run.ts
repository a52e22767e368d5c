// One calibration run: every planned profile measured and checked against its anchors, printed,
// and written as calibration.json and CALIBRATION.md beside this file.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProfileName } from '../../sim/profiles.ts';
import { ANCHORS, checkAnchor, SOURCES } from './anchors.ts';
import { calibrateProfile, PLANS } from './plan.ts';
import { calibrationMarkdown, consoleSummary, type CalibrationReport } from './report.ts';

export interface CalibrateOptions {
  /** Write calibration.json and CALIBRATION.md (false: print only). */
  readonly write: boolean;
  /** Calibrate this profile only (null: every profile with a plan). */
  readonly profile: ProfileName | null;
}

/** The profiles with a calibration plan, in the order the report lists them. */
export const PLANNED_PROFILES = Object.keys(PLANS) as ProfileName[];

export function runCalibration(names: readonly ProfileName[]): CalibrationReport {
  return {
    generatedBy: 'node --import tsx bench/calibrate/calibrate.ts',
    profiles: names.map((n) => {
      const c = calibrateProfile(n);
      return { ...c, anchors: (ANCHORS[n] ?? []).map((a) => checkAnchor(a, c)) };
    }),
    sources: SOURCES,
  };
}

export function calibrate(o: CalibrateOptions): void {
  const report = runCalibration(PLANNED_PROFILES.filter((n) => o.profile === null || n === o.profile));
  process.stdout.write(consoleSummary(report));
  if (!o.write) return;
  const here = dirname(fileURLToPath(import.meta.url));
  writeFileSync(join(here, 'calibration.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(here, 'CALIBRATION.md'), calibrationMarkdown(report));
  process.stdout.write(`wrote ${join(here, 'calibration.json')} and ${join(here, 'CALIBRATION.md')}\n`);
}

// `npm run calibrate`: the simulated engine measured in simulated time (measure.ts) for each
// profile with a plan (plan.ts), beside the published or derived figures it is held to
// (anchors.ts). Prints Markdown tables; writes bench/calibrate/calibration.json and regenerates
// bench/calibrate/CALIBRATION.md (report.ts) unless --no-write.
//
//   node --import tsx bench/calibrate/calibrate.ts [--no-write] [--profile NAME]
import { Option } from 'commander';
import type { ProfileName } from '../../sim/profiles.ts';
import { benchCommand } from '../lib/command.ts';
import { calibrate, PLANNED_PROFILES } from './run.ts';

const flags = benchCommand('calibrate', 'measure the simulated engine per profile and check it against published figures')
  .option('--no-write', 'print only: do not write calibration.json and CALIBRATION.md')
  .addOption(new Option('--profile <name>', 'calibrate this profile only').choices(PLANNED_PROFILES))
  .parse(process.argv)
  .opts<{ write: boolean; profile?: ProfileName }>();

calibrate({ write: flags.write, profile: flags.profile ?? null });

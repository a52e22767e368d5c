// `npm run chaos -- --minutes N`: steady load on a simulated fleet behind two ingresses and two
// schedulers while workers crash, hang, start slowly, die mid-stream and burst errors, and a
// scheduler and the bus are restarted (chaos.ts); `--help` lists the options (options.ts).
// Exits 0 on PASS, 1 on FAIL, 2 when the run itself broke or on a usage error.
import { runChaos } from './chaos.ts';
import { parseOptions } from './options.ts';

await runChaos(parseOptions(process.argv.slice(2)));

// Router-overhead benchmark: the same workload sent (a) straight to simulated vLLM workers,
// (b) through nginx round robin, and (c) through the router (nats-server + scheduler + ingress +
// agent), all in one run against the same workers, so that what nginx and the router add is
// measured as a difference against direct under the same conditions.
//
//   node --import tsx bench/overhead/run.ts [--quick] [--rates 100,300,1000] [--seconds 10]
//        [--warmup 2] [--drain 15] [--one-token-rate 300] [--no-one-token]
//        [--sweep-rates 500,1000,...] [--sweep-arms direct,router,nginx]
//        [--sweep-stop-after 2] [--from-source]
//        [--rss-streams 2000] [--rss-hold 10] [--arms direct,nginx,router] [--workers 4]
//        [--profile llama-3.1-8b-h100] [--route completions|chat] [--policy round_robin]
//        [--pin none|loadgen|split] [--poisson] [--no-sweep] [--no-rss] [--cpu-prof DIR]
//        [--router-entry FILE.js] [--router-node-arg FLAG]… [--max-other 25] [--retries 2] [--quiet-wait 60]
//        [--out bench/results/overhead.json]
//   (or `npm run bench -- overhead [the same options]`)
//
// The machine may be shared: a point whose measurement window saw other processes use more than
// --max-other % of one core is run again (up to --retries times, each after waiting up to
// --quiet-wait s for the machine to calm down; the least contended run is kept).
// --router-entry runs the router's processes from another entry point than bin/llm-router.js
// (e.g. a prebuilt bundle of cli/main.ts), to compare against running the sources through tsx.
//
// Phases: (1) 64-token streams at each --rates point, the three arms interleaved per rate;
// (1b) 1-token streams at --one-token-rate through each arm; (2) a non-streaming sweep
// (max_tokens 16), stepping the rate up per arm until it stops being sustained; (3) memory:
// --rss-streams long streams held open through a fresh router stack while the ingress's and
// scheduler's VmRSS are sampled. Every point also reports what its work cost (cost.ts): CPU µs
// per streamed event and per request of nginx and of the router's processes, and the router's
// NATS messages and bytes per event and per request; the targets (verdict.ts) are the router's
// figures against nginx's in the same run. Prints Markdown to stdout, progress to stderr, writes
// bench/results/overhead.json and bench/results/overhead.md. Every child process is killed and
// every temp dir removed at the end, on failure, and on Ctrl-C.
import { runOverhead } from './overhead.ts';
import { parseOptions } from './options.ts';

process.exit(await runOverhead(parseOptions(process.argv.slice(2))));

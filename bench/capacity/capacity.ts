// Capacity benchmark of the simulator: ONE `llm-router sim` process (16 workers by default) pinned to
// one core keeps N concurrent streams going while its inter-token latency stays what the cost model
// says. A load-generating client (client.ts), pinned to the other core, keeps `--streams` streaming
// completions open (ignore_eos, a fresh request as soon as one ends) and measures each stream's
// inter-chunk gaps.
//
//   node --import tsx bench/capacity/capacity.ts [--workers 16] [--streams 500] [--seconds 20]
//        [--warmup 5] [--max-tokens 256] [--prompt-tokens 128] [--profile llama-3.1-8b-h100]
//        [--sim-core 0] [--client-core 1] [--cpu-prof <dir>] [--sim-node-arg <flag>]… [--sim-log <file>]
//        [--tolerance 5] [--out bench/results/sim-capacity.json]      (--help: every option)
//
// PASS when both the client-measured mean ITL and the simulator's own ITL histogram mean are within
// 5 % of the cost model's ITL for the steps the workers actually ran (Δ busyMs / Δ steps from
// /_sim/state, weighted by each worker's generated tokens). Writes bench/results/sim-capacity.json.
// The table also shows what else ran on the simulator's core (other processes, IRQ/softirq): on a
// shared machine a FAIL with "contended" next to it says more about the neighbours than the simulator.
import { parseOptions } from './options.ts';
import { runCapacity } from './orchestrate.ts';

process.exit(await runCapacity(parseOptions(process.argv.slice(2))));

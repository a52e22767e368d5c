// Node flags the long-running router processes (scheduler, ingress) are meant to run with, in one
// place for every launcher we ship (`llm-router dev`, the benchmarks) and for the docs.
//
// --max-semi-space-size=4: V8's young generation grows to 2 × 16 MB semi-spaces by default, sized
// for throughput. A scheduler holding 2,000 streams allocates per token, the young generation
// reaches its maximum, and those 32 MB are a third of what the process adds for its streams
// (heap snapshot: 52 MB of live objects in a 155 MB process). At 4 MB the process stays near
// 125 MB with the same streams, and the CPU per token did not measurably change
// (bench/overhead/probe-syscalls.ts, 100 streams/s × 64 tokens, A/B twice).
export const SERVER_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=4']);

// Reads a vLLM worker's load from its Prometheus /metrics text: running and waiting requests,
// KV-cache usage (a 0–1 fraction, current name or the deprecated GPU one) and the cache shape.
// Pure: text in, numbers out; unknown lines are ignored, labels such as `engine` are optional,
// and several engines (data parallel) are summed.

export interface WorkerLoad {
  readonly running: number;
  readonly waiting: number;
  /** Mean over engines, 0–1. */
  readonly kvUsage: number;
  readonly blockSize: number | null;
  readonly numBlocks: number | null;
  readonly models: readonly string[];
}

// Label values are quoted and may hold `}` or escaped quotes, so the label set is matched quote-aware.
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

const RUNNING = new Set(['vllm:num_requests_running']);
const WAITING = new Set(['vllm:num_requests_waiting']);
const KV_USAGE = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'] as const;

function labels(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const m of text.matchAll(LABEL)) out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return out;
}

export function parseVllmMetrics(text: string): WorkerLoad {
  let running = 0;
  let waiting = 0;
  const usage: Record<string, number[]> = { [KV_USAGE[0]]: [], [KV_USAGE[1]]: [] };
  let blockSize: number | null = null;
  let numBlocks: number | null = null;
  const models = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.charCodeAt(0) === 35 /* # */) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const name = m[1]!;
    if (!name.startsWith('vllm:')) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const l = labels(m[2]);
    if (l.model_name) models.add(l.model_name);
    if (RUNNING.has(name)) running += value;
    else if (WAITING.has(name)) waiting += value;
    else if (name in usage) usage[name]!.push(value);
    else if (name === 'vllm:cache_config_info') {
      const bs = Number(l.block_size);
      const nb = Number(l.num_gpu_blocks);
      if (Number.isInteger(bs) && bs > 0) blockSize = bs;
      if (Number.isInteger(nb) && nb >= 0) numBlocks = (numBlocks ?? 0) + nb;
    }
  }
  const kv = usage[KV_USAGE[0]]!.length > 0 ? usage[KV_USAGE[0]]! : usage[KV_USAGE[1]]!;
  const kvUsage = kv.length > 0 ? kv.reduce((a, b) => a + b, 0) / kv.length : 0;
  return {
    running: Math.max(0, Math.round(running)),
    waiting: Math.max(0, Math.round(waiting)),
    kvUsage: Math.min(1, Math.max(0, kvUsage)),
    blockSize,
    numBlocks,
    models: [...models],
  };
}

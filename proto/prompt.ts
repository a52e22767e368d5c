// The text a request asks the model to read, for estimates made without a tokenizer (the
// scheduler's load and prefix estimates, the ingress's token rate limits): chat messages (role
// and text parts) in order, or the completion prompt.

/** Characters per token for English text with Llama-3-class tokenizers; estimates only. */
export const CHARS_PER_TOKEN = 4;

export function promptText(body: Readonly<Record<string, unknown>>): string {
  if (Array.isArray(body.messages)) {
    let s = '';
    for (const m of body.messages) {
      if (typeof m !== 'object' || m === null) continue;
      const { role, content } = m as { role?: unknown; content?: unknown };
      s += `${typeof role === 'string' ? role : ''}\n`;
      if (typeof content === 'string') s += content;
      else if (Array.isArray(content)) for (const p of content) s += typeof (p as { text?: unknown })?.text === 'string' ? (p as { text: string }).text : '';
      s += '\n';
    }
    return s;
  }
  const p = body.prompt;
  if (typeof p === 'string') return p;
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') return p[0];
  return '';
}

/** Prompt length in tokens: exact for token-id prompts, estimated from characters otherwise. */
export function promptTokens(body: Readonly<Record<string, unknown>>, text = promptText(body)): number {
  const p = body.prompt;
  if (Array.isArray(p) && p.length > 0 && typeof p[0] === 'number') return p.length;
  if (Array.isArray(p) && p.length === 1 && Array.isArray(p[0])) return (p[0] as unknown[]).length;
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

// An allow list of networks (IPv4 and IPv6 CIDRs, or single addresses) that an address must fall
// inside: node:net's BlockList does the matching, IPv4-mapped IPv6 addresses (a dual-stack
// socket's view of an IPv4 peer) included. Only IP literals can be checked against a network, so
// a host name is never inside: it resolves wherever its owner says, and may resolve elsewhere
// tomorrow. Used by schedulers (`--worker-allow`: where users' prompts may be sent) and by
// discover-zmq (`--allow`: who may register, and which addresses they may name). Pure.
import { BlockList, isIP } from 'node:net';

export class AllowList {
  readonly cidrs: readonly string[];
  readonly #list = new BlockList();

  /** Throws a RangeError naming the first entry that is not `ADDRESS[/PREFIX]`. */
  constructor(cidrs: readonly string[]) {
    if (cidrs.length === 0) throw new RangeError('an allow list needs at least one network (CIDR or address)');
    for (const c of cidrs) {
      const [address = '', prefix, ...more] = c.trim().split('/');
      const family = isIP(address);
      const max = family === 6 ? 128 : 32;
      const bits = prefix === undefined ? max : Number(prefix);
      if (family === 0 || more.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) || bits > max) {
        throw new RangeError(`${JSON.stringify(c)} is not an IPv4 or IPv6 CIDR (ADDRESS/PREFIX)`);
      }
      this.#list.addSubnet(address, bits, family === 6 ? 'ipv6' : 'ipv4');
    }
    this.cidrs = Object.freeze(cidrs.map((c) => c.trim()));
  }

  /** An address literal (what a socket reports, or a URL's host with its brackets), IPv4 or IPv6. */
  allowsIp(ip: string): boolean {
    const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
    const family = isIP(bare);
    return family !== 0 && this.#list.check(bare, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** `http(s)://host:port/…`, `host:port` or `[v6]:port` whose host is an IP literal inside the list. */
  allowsAddress(address: string): boolean {
    const host = hostOf(address);
    return host !== null && this.allowsIp(host);
  }
}

/** `10.0.0.0/8,fd00::/8,192.0.2.7` → an AllowList; throws a RangeError naming a bad entry. */
export function parseAllowList(text: string): AllowList {
  return new AllowList(
    text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/** The host of a URL, `host:port` or `[v6]:port`, brackets removed; null when there is none. */
export function hostOf(address: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) {
    try {
      const h = new URL(address).hostname;
      return h.startsWith('[') ? h.slice(1, -1) : h || null;
    } catch {
      return null;
    }
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):\d+$/.exec(address);
  return m ? (m[1] ?? m[2]!) : null;
}

// An allow list of IPv4 and IPv6 CIDRs (node:net BlockList does the matching, IPv4-mapped IPv6
// addresses included), and the check of a registration's `host:port` against it: only an IP
// literal can be inside a list, so a host name is refused (it resolves wherever its owner says,
// and may resolve elsewhere tomorrow). Pure.
import { BlockList, isIP } from 'node:net';

export class AllowList {
  readonly cidrs: readonly string[];
  readonly #list = new BlockList();

  /** Throws a RangeError naming the first entry that is not `ADDRESS[/PREFIX]`. */
  constructor(cidrs: readonly string[]) {
    if (cidrs.length === 0) throw new RangeError('an allow list needs at least one CIDR');
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

  /** `ip` is an address literal (what a socket reports), IPv4 or IPv6. */
  allowsIp(ip: string): boolean {
    const family = isIP(ip);
    return family !== 0 && this.#list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** `host:port` or `[v6]:port` whose host is an IP literal inside the list. */
  allowsAddress(hostPort: string): boolean {
    const host = hostOf(hostPort);
    return host !== null && this.allowsIp(host);
  }
}

/** The host part of `host:port` / `[v6]:port`, brackets removed; null without a port. */
export function hostOf(hostPort: string): string | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):\d+$/.exec(hostPort);
  return m ? (m[1] ?? m[2]!) : null;
}

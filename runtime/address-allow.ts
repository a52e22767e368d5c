// An allow list of networks (CIDRs or single addresses, IPv4 and IPv6) that a URL's or a
// `host:port`'s host must fall inside. Only IP literals can be checked against a network, so a
// host name is refused whenever a list is set: a name resolves where its DNS says, which is
// not a boundary. Used by schedulers (`--worker-allow`: where users' prompts may be sent) and
// by discover-zmq (`--allow`: who may register, and which addresses they may name).
import { BlockList, isIP } from 'node:net';

export interface AddressAllowList {
  /** The entries as given, for logs. */
  readonly entries: readonly string[];
  /** Whether an IP literal (v4, v6, or v6 in brackets) is inside the list. */
  allowsIp(ip: string): boolean;
  /** Whether the host of `http(s)://host:port/…` or `host:port` is an IP inside the list. */
  allowsHostOf(address: string): boolean;
}

/** Parses `10.0.0.0/8,fd00::/8,192.0.2.7`; throws a RangeError naming the bad entry. */
export function parseAllowList(text: string): AddressAllowList {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new RangeError('an allow list needs at least one network (CIDR or address)');
  const list = new BlockList();
  for (const e of entries) {
    const [addr = '', bits, extra] = e.split('/');
    const family = isIP(addr);
    if (family === 0 || extra !== undefined) throw new RangeError(`not a CIDR or IP address: ${JSON.stringify(e)}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(addr, type);
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw new RangeError(`bad prefix length in ${JSON.stringify(e)}`);
    list.addSubnet(addr, prefix, type);
  }
  const allowsIp = (ip: string): boolean => {
    const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
    const family = isIP(bare);
    if (family === 0) return false;
    return list.check(bare, family === 4 ? 'ipv4' : 'ipv6');
  };
  return Object.freeze({
    entries: Object.freeze(entries),
    allowsIp,
    allowsHostOf(address: string): boolean {
      const host = hostOf(address);
      return host !== null && allowsIp(host);
    },
  });
}

/** The host of a URL or of `host:port` (IPv6 in brackets kept bracketed); null when unparsable. */
export function hostOf(address: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) {
    try {
      return new URL(address).hostname;
    } catch {
      return null;
    }
  }
  const i = address.lastIndexOf(':');
  return i > 0 ? address.slice(0, i) : null;
}

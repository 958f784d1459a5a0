import { shellJoin, shellQuote } from "../ssh/shell-quote.js";

/** A guest of a topology as the others see it on the private network. */
export interface LanPeer {
  name: string;
  address: string;
}

/**
 * Guest command that puts the card with `mac` on the private network at `address` (/24) and
 * makes every guest's name resolve there. With systemd-networkd, a .network file for that MAC
 * (ahead of any DHCP one matching all cards); elsewhere plain `ip`. Waits until the address is
 * up. Run after every start, restored or booted: a snapshot holds the card, not the address.
 * Pure.
 */
export function buildLanCommand(o: { mac: string; address: string; peers: LanPeer[] }): string {
  const hosts = o.peers.map((p) => `${p.address} ${p.name} # kvmci-lan`).join("\n");
  const network = [
    "[Match]",
    `MACAddress=${o.mac}`,
    "",
    "[Network]",
    `Address=${o.address}/24`,
    "LinkLocalAddressing=no",
    "IPv6AcceptRA=no",
    "",
  ].join("\n");
  const script = [
    "set -e",
    `dev=; for d in /sys/class/net/*; do if [ "$(cat "$d/address")" = ${shellQuote(o.mac)} ]; then dev=\${d##*/}; fi; done`,
    `[ -n "$dev" ] || { echo "kvmci: no network card with MAC ${o.mac} in this guest" >&2; exit 1; }`,
    "if command -v networkctl >/dev/null 2>&1 && systemctl is-active -q systemd-networkd; then",
    `  printf '%s' ${shellQuote(network)} > /etc/systemd/network/10-kvmci-lan.network`,
    '  networkctl reload && networkctl reconfigure "$dev"',
    "else",
    `  ip link set "$dev" up && ip addr replace ${o.address}/24 dev "$dev"`,
    "fi",
    "sed -i '/# kvmci-lan$/d' /etc/hosts",
    `printf '%s\\n' ${shellQuote(hosts)} >> /etc/hosts`,
    `i=0; until ip -4 -o addr show dev "$dev" | grep -q ' ${o.address.replace(/\./g, "\\.")}/'; do`,
    '  i=$((i + 1)); [ $i -lt 100 ] || { echo "kvmci: $dev did not get its address" >&2; exit 1; }; sleep 0.1',
    "done",
  ].join("\n");
  return shellJoin(["sudo", "sh", "-c", script]);
}

/**
 * Guest command that exits 0 when a `ready:` probe answers: `tcp:PORT` on the guest's own
 * address on the private network (where the others will connect), or a command. Pure.
 */
export function buildProbeCommand(
  probe: { kind: "tcp"; port: number } | { kind: "command"; command: string },
  address: string,
): string {
  if (probe.kind === "tcp")
    return `timeout 2 bash -c ${shellQuote(`</dev/tcp/${address}/${probe.port}`)} 2>/dev/null`;
  return probe.command;
}

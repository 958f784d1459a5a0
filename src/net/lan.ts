import { chmod } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";

/**
 * The private network of one run's guests: an Ethernet switch kvmci runs itself, on a unix
 * socket in the run's own folder (0700), which each guest's second network card joins with
 * QEMU's `-netdev stream`. No root, no host network configuration, nothing another run or user
 * can join. Frames come and go as QEMU's stream and socket netdevs send them: a 4-byte length
 * in network order, then the frame. A frame goes to the port its destination MAC address was
 * last seen on, or to every other port when that is not known yet (or it is a broadcast).
 */
export class LanSwitch implements AsyncDisposable {
  private readonly ports = new Set<Socket>();
  private readonly where = new Map<string, Socket>();
  /** Frames switched, for tests and the report. */
  frames = 0;

  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  static async start(path: string): Promise<LanSwitch> {
    const server = createServer();
    const lan = new LanSwitch(server, path);
    server.on("connection", (socket) => lan.attach(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, resolve);
    });
    await chmod(path, 0o600);
    return lan;
  }

  private attach(socket: Socket): void {
    this.ports.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 4) {
        const length = pending.readUInt32BE(0);
        // Larger than any Ethernet frame a virtio card sends: this port is not a QEMU.
        if (length > 65_536) {
          socket.destroy();
          return;
        }
        if (pending.length < 4 + length) break;
        this.forward(socket, pending.subarray(0, 4 + length));
        pending = pending.subarray(4 + length);
      }
    });
    const forget = () => {
      this.ports.delete(socket);
      for (const [mac, port] of this.where) if (port === socket) this.where.delete(mac);
    };
    socket.on("close", forget);
    socket.on("error", forget);
  }

  /** `packet` is the length and the frame: passed on as it came. */
  private forward(from: Socket, packet: Buffer): void {
    if (packet.length < 4 + 14) return;
    this.frames++;
    const destination = packet.subarray(4, 10).toString("hex");
    const source = packet.subarray(10, 16).toString("hex");
    this.where.set(source, from);
    const known = this.where.get(destination);
    // A copy: `packet` is a view of a buffer the next chunk may overwrite.
    const copy = Buffer.from(packet);
    if (known && known !== from) known.write(copy);
    else if (!known) for (const port of this.ports) if (port !== from) port.write(copy);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const port of this.ports) port.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The private network's addresses: guest i (from 0) is 10.72.0.(10 + i)/24. Pure. */
export function lanAddress(index: number): string {
  return `10.72.0.${10 + index}`;
}

/** Guest i's card on the private network: a fixed, locally administered MAC. Pure. */
export function lanMac(index: number): string {
  return `52:54:00:4c:00:${(index + 1).toString(16).padStart(2, "0")}`;
}

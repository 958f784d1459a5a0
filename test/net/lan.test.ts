import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LanSwitch, lanAddress, lanMac } from "../../src/net/lan.js";

// Ports are plain unix-socket clients speaking QEMU's stream framing, as a guest's card does.

let dir: string;
let lan: LanSwitch;
const open: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kvmci-lan-"));
  lan = await LanSwitch.start(join(dir, "lan.sock"));
});
afterEach(async () => {
  for (const s of open.splice(0)) s.destroy();
  await lan[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

async function port(): Promise<{ socket: Socket; received: Buffer[] }> {
  const socket = connect(lan.path);
  open.push(socket);
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  await new Promise((resolve) => socket.once("connect", resolve));
  return { socket, received };
}

function frame(to: string, from: string, payload: string): Buffer {
  const body = Buffer.concat([
    Buffer.from(to.replace(/:/g, ""), "hex"),
    Buffer.from(from.replace(/:/g, ""), "hex"),
    Buffer.from([0x08, 0x00]),
    Buffer.from(payload),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

const broadcast = "ff:ff:ff:ff:ff:ff";

describe("LanSwitch", () => {
  it("floods what it cannot place, then sends each frame only to its destination's port", async () => {
    const [a, b, c] = [await port(), await port(), await port()];
    a.socket.write(frame(broadcast, lanMac(0), "who has"));
    b.socket.write(frame(lanMac(0), lanMac(1), "it is me"));
    await sleep(100);
    expect(Buffer.concat(b.received).includes("who has")).toBe(true);
    expect(Buffer.concat(c.received).includes("who has")).toBe(true);
    // b's answer went to a alone: the switch had learnt where a is.
    expect(Buffer.concat(a.received).includes("it is me")).toBe(true);
    expect(Buffer.concat(c.received).includes("it is me")).toBe(false);
  });

  it("reassembles frames split across reads", async () => {
    const [a, b] = [await port(), await port()];
    const whole = frame(broadcast, lanMac(0), "split in two");
    a.socket.write(whole.subarray(0, 7));
    await sleep(50);
    a.socket.write(whole.subarray(7));
    await sleep(100);
    expect(Buffer.concat(b.received)).toEqual(whole);
  });

  it("drops a port that sends something no QEMU would", async () => {
    const [a, b] = [await port(), await port()];
    const closed = new Promise((resolve) => a.socket.once("close", resolve));
    a.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await closed;
    b.socket.write(frame(broadcast, lanMac(1), "still here"));
    await sleep(50);
    expect(lan.frames).toBe(1);
  });

  it("numbers the guests' addresses and cards", () => {
    expect([lanAddress(0), lanAddress(2)]).toEqual(["10.72.0.10", "10.72.0.12"]);
    expect([lanMac(0), lanMac(15)]).toEqual(["52:54:00:4c:00:01", "52:54:00:4c:00:10"]);
  });
});

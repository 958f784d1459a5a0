import { constants } from "node:fs";
import { open } from "node:fs/promises";

/**
 * The last `maxBytes` of a file as text, read without following a link or blocking on a FIFO:
 * for files whose content a guest wrote (its console), which may be of any size.
 */
export async function readFileTail(path: string, maxBytes: number): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString("utf8");
  } finally {
    await handle.close();
  }
}

import { createConnection, type Socket } from "node:net";

/** Connects to a Unix socket; rejects if nothing listens there (yet). */
export function openUnixSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.removeListener("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

// The listening sockets. The supervisor creates them (or adopts systemd's) and keeps its own
// reference for its whole life: a generation that crashes closes only its copy, so the
// listener and its accept backlog survive, and no connection is refused meanwhile.
import { close, createListener, getSockName, isListening, SysError } from "../../ffi/index.ts";
import type { ListenerInfo } from "../handoff/index.ts";

export interface Listener {
  fd: number;
  info: ListenerInfo;
}

export function openListeners(o: { port: number; hostname: string; backlog: number; listenFds?: number[]; reusePort?: boolean }): Listener[] {
  if (o.listenFds) {
    return o.listenFds.map((fd) => {
      let listening = false;
      try {
        listening = isListening(fd);
      } catch {
        // not a socket
      }
      if (!listening) throw new Error(`fd ${fd} passed in LISTEN_FDS is not a listening socket: check the .socket unit`);
      const a = getSockName(fd);
      return { fd, info: { address: a.address, port: a.port, family: a.family } };
    });
  }
  try {
    const { fd, address } = createListener({ hostname: o.hostname, port: o.port, backlog: o.backlog, reusePort: o.reusePort });
    return [{ fd, info: { address: address.address, port: address.port, family: address.family } }];
  } catch (err) {
    if (err instanceof SysError && err.code === "EADDRINUSE") {
      throw new Error(`port ${o.port} on ${o.hostname} is in use by another process (EADDRINUSE): pick another with --port, or stop the other server`);
    }
    if (err instanceof SysError && err.code === "EACCES") {
      throw new Error(`binding port ${o.port} needs privileges (EACCES): pick a port above 1023 with --port, or grant CAP_NET_BIND_SERVICE`);
    }
    if (err instanceof SysError && err.code === "EADDRNOTAVAIL") {
      throw new Error(`address ${o.hostname} is not an address of this machine (EADDRNOTAVAIL): pick another with --host`);
    }
    throw err;
  }
}

export function closeListeners(listeners: Listener[]): void {
  for (const l of listeners) {
    try {
      close(l.fd);
    } catch {
      // already closed
    }
  }
}

/**
 * --spread reuseport: one listener per worker slot, all in one SO_REUSEPORT group on the same
 * port (the first picks it when the port is 0). The supervisor keeps every one open across
 * generations: closing a socket of the group would drop the connections queued on it.
 */
export function openSlotListeners(o: { port: number; hostname: string; backlog: number }, slots: number): Listener[][] {
  const first = openListeners({ ...o, reusePort: true });
  const all = [first];
  try {
    for (let i = 1; i < slots; i++) all.push(openListeners({ ...o, port: first[0]!.info.port, reusePort: true }));
  } catch (err) {
    for (const l of all) closeListeners(l);
    throw err;
  }
  return all;
}

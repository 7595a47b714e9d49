// Typed libc for liveframe. Lower layers only: nothing here imports from src/.
export { libc } from "./libc.ts";
export { SysError, errnoName, check, checkSize, lastErrno } from "./errno.ts";
export * from "./socket.ts";
export { sendFds, recvFds, MAX_FDS_PER_MESSAGE, type Received, type RecvOptions } from "./fdpass.ts";
export * from "./mmap.ts";
export { MappingGuard, guardAvailable } from "./sigbus.ts";
export { fileLimit, openFdCount, describeFdUse } from "./fd-limit.ts";
export { FdReserve } from "./fd-reserve.ts";
export { sendFile } from "./sendfile.ts";

// Writing the CLI's lines to stdout/stderr. When the reader goes away (`liveframe status |
// head -1`), further output is dropped quietly and the command finishes as it would have:
// like git and ls, a closed pipe is the reader's choice, not an error of ours. Exit codes stay
// those of the command (init still writes the app, stop still stops the server).

/** Error codes that mean "nobody reads this stream any more". */
const READER_GONE = new Set(["EPIPE", "ERR_STREAM_DESTROYED"]);

export interface LineWriter {
  (line: string): void;
  /** True once the reader closed the stream; later lines are dropped. */
  readonly closed: boolean;
}

interface Writable {
  write(chunk: string): unknown;
  on?(event: "error", listener: (e: Error) => void): unknown;
}

/** A line writer for `stream` that swallows EPIPE (thrown synchronously or emitted later). */
export function lineWriter(stream: Writable): LineWriter {
  let closed = false;
  const readerGone = (e: unknown) => READER_GONE.has(String((e as { code?: unknown })?.code ?? ""));
  stream.on?.("error", (e) => {
    if (readerGone(e)) closed = true;
    else throw e;
  });
  const write = (line: string) => {
    if (closed) return;
    try {
      stream.write(`${line}\n`);
    } catch (e) {
      if (!readerGone(e)) throw e;
      closed = true;
    }
  };
  return Object.defineProperty(write, "closed", { get: () => closed }) as LineWriter;
}

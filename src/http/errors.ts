// A request the engine refuses: the status to answer with, and why (the connection is then closed).
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

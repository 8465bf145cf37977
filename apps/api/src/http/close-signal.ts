import type { Response } from "express";

/** Aborts when the response closes: finished, or the client went away. */
export function closeSignal(res: Response): AbortSignal {
  const gone = new AbortController();
  if (res.destroyed) gone.abort();
  else res.once("close", () => gone.abort());
  return gone.signal;
}

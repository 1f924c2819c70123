/**
 * How a metered call reaches the upstream (docs/models.md, "The fetch and the
 * gateway"): the request it sends and what it reads of the answer. Node's
 * `fetch` and its `Response` are one such pair (the SDKs' fetch); the gateway
 * has a lighter one over node:http (src/api/gateway/upstream-http.ts).
 */

/** A request to the upstream, as meterAnswer and the gateway send it. */
export interface UpstreamInit {
  method: string;
  headers: Headers;
  body?: string;
  signal?: AbortSignal | null;
}

/** An answer's headers as they are read: a fetch `Headers` is one (names lower case, in order). */
export interface AnswerHeaders {
  get(name: string): string | null;
  forEach(callback: (value: string, name: string) => void): void;
}

/** What is read of the upstream's answer: a fetch `Response` is one. */
export interface UpstreamAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: AnswerHeaders;
  /** The body as it arrives; null when the status has none (NULL_BODY_STATUSES). */
  readonly body: ReadableStream<Uint8Array> | null;
  /** The whole body as text (UTF-8, a leading BOM dropped), read once. */
  text(): Promise<string>;
}

/** Sends a request upstream; resolves once the answer's head has arrived. */
export type UpstreamFetch<A extends UpstreamAnswer = UpstreamAnswer> = (
  url: string,
  init: UpstreamInit,
) => Promise<A>;

/** The statuses of an answer without a body (fetch's null body statuses a final answer can have). */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

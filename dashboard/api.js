// The /v1 API of the server that served the page, called with the token the
// operator typed in (kept in this tab's sessionStorage only, never
// localStorage nor a cookie). The same routes the SDK calls: the page has no
// power of its own.

export const TOKEN_KEY = 'tollgate.adminToken';

/**
 * The token and what it may do: `access` is 'admin' (the admin token: reads
 * and acts), 'read' (the read-only token, TOLLGATE_READ_TOKEN: reads only), or
 * null until known (the first admin-only read tells: access.js).
 */
export const session = { token: null, access: null };

/** The server refused the token (401, or 403: not allowed for this token). */
export class Refused extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Any other error answer: its status, code and message as the API gave them. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * One request. `method` GET by default; `body` is sent as JSON. Resolves to
 * the parsed answer; rejects with Refused (401, 403) or ApiError.
 */
export async function api(path, opts = {}) {
  const method = opts.method ?? 'GET';
  const headers = { authorization: `Bearer ${session.token}` };
  let body;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, {
    method,
    headers,
    body,
    cache: 'no-store',
    credentials: 'omit',
  });
  let answer;
  try {
    answer = await res.json();
  } catch {
    answer = undefined;
  }
  const code = answer?.error?.code ?? '';
  const message = answer?.error?.message ?? '';
  if (res.status === 401 || res.status === 403) throw new Refused(res.status, code, message);
  if (!res.ok) throw new ApiError(res.status, code, message || `HTTP ${res.status}`);
  return answer;
}

/** An error as the page shows it: `403 FORBIDDEN: <the API's message>`. */
export function describeError(e) {
  if (e instanceof Refused || e instanceof ApiError) {
    return `${e.status} ${e.code}${e.message ? `: ${e.message}` : ''}`.trim();
  }
  return e instanceof Error ? e.message : String(e);
}

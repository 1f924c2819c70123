import { randomUUID } from 'node:crypto';

/**
 * A new usage id (`u-<uuid>`, within the request id's pattern): made once per
 * recorded usage, before the engine is called, so that the engine call run
 * twice (a resend, a retry) counts the usage once.
 */
export function newUsageId(): string {
  return `u-${randomUUID()}`;
}

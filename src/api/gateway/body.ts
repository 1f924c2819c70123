/**
 * A gateway request's body as bytes, at most `limit` (413 in the provider's
 * shape past it). A model call's body usually comes in the packet that brought
 * its head: once Node's parser is through that packet (one microtask after the
 * route starts), the request's buffer holds its whole declared length, and
 * the body is taken from it at once, not through the stream's events
 * (docs/decisions.md, "Model calls"). A body still on its way, chunked, or
 * encoded (gzip, deflate, br), is read by `parse` (express.raw), which waits
 * for it and inflates it.
 */
import type { Request, RequestHandler, Response } from 'express';
import { TollgateError } from '../../errors.js';

const EMPTY = Buffer.alloc(0);

function tooLarge(limit: number): TollgateError {
  return new TollgateError('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes`);
}

export async function readBody(
  req: Request,
  res: Response,
  parse: RequestHandler,
  limit: number,
): Promise<Buffer> {
  await undefined;
  const encoding = req.headers['content-encoding'];
  const length = req.headers['content-length'];
  if (
    length !== undefined &&
    req.readableFlowing === null &&
    (encoding === undefined || encoding === 'identity')
  ) {
    const size = Number(length);
    if (size > limit) throw tooLarge(limit);
    // Node's parser has the whole body in the request's buffer: it takes no more than the declared length.
    if (size === 0) return EMPTY;
    if (req.readableLength === size) {
      const body = (req.read() as Buffer | null) ?? EMPTY;
      // Flowing, the request ends (its 'end') once the parser has seen the whole message.
      req.resume();
      return body;
    }
  }
  return new Promise((resolve, reject) => {
    parse(req, res, (err?: unknown) => {
      if (err === undefined || err === null) {
        resolve(Buffer.isBuffer(req.body) ? req.body : EMPTY);
        return;
      }
      if ((err as { type?: string }).type === 'entity.too.large') reject(tooLarge(limit));
      else reject(new TollgateError('VALIDATION_FAILED', 'Unreadable request body'));
    });
  });
}

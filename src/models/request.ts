/** A model request's JSON body read for metering (docs/models.md, "The hold"). */
import { TollgateError } from '../errors.js';
import { isObject } from './json.js';
import { parseChat } from './request-chat.js';
import { parseMessages } from './request-messages.js';
import { parseResponses } from './request-responses.js';
import type { ModelRequest } from './request-types.js';
import type { ModelApi } from './types.js';

/**
 * The model, stream flag, output limit and texts to count of a request body
 * (parsed JSON) for the API, and for a chat stream the body to send upstream
 * so that it ends with its usage. Throws VALIDATION_FAILED for a body that is
 * not an object with a model name.
 */
export function parseModelRequest(api: ModelApi, body: unknown): ModelRequest {
  if (!isObject(body)) {
    throw new TollgateError('VALIDATION_FAILED', 'a model request body must be a JSON object');
  }
  const model = body.model;
  if (typeof model !== 'string' || model.length === 0) {
    throw new TollgateError('VALIDATION_FAILED', 'a model request must name its model');
  }
  switch (api) {
    case 'chat':
      return parseChat(body, model);
    case 'responses':
      return parseResponses(body, model);
    case 'messages':
      return parseMessages(body, model);
  }
}

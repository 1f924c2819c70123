import { DEFAULT_POLICY_DOC } from './defaults.js';
import { issuesFromZod, PolicyError } from './errors.js';
import { finalizeDoc } from './finalize.js';
import { mergePolicy, missingFieldIssues } from './merge.js';
import { allowedKeysAt, type PolicyDoc, policyFileSchema } from './schema.js';

/**
 * A file document (snake_case; `undefined` or `null`, e.g. an empty YAML file, means no
 * overrides) checked strictly and merged onto the defaults. Throws PolicyError naming
 * every bad field at once: the schema's problems and the entries that miss a field
 * their merge needs.
 */
export function resolvePolicyDoc(input: unknown, source?: string): PolicyDoc {
  if (input === undefined || input === null) return DEFAULT_POLICY_DOC;
  const parsed = policyFileSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    throw PolicyError.fromIssues(
      [
        ...issuesFromZod(parsed.error, allowedKeysAt),
        ...missingFieldIssues(input, DEFAULT_POLICY_DOC),
      ],
      source,
    );
  }
  const { doc, issues } = mergePolicy(DEFAULT_POLICY_DOC, parsed.data);
  if (issues.length > 0) throw PolicyError.fromIssues(issues, source);
  return finalizeDoc(doc, source);
}

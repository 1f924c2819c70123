import { loadPolicy, PolicyError } from '../../policy/index.js';
import type { Out } from '../output.js';

/** `tollgate policy check <file>`: validates a policy file and prints what it resolves to. */
export async function policyCheck(out: Out, file: string | undefined): Promise<number> {
  if (!file) {
    out.error('usage: tollgate policy check <file>');
    return 2;
  }
  try {
    const policy = await loadPolicy(file);
    out.line(`${file}: valid`);
    out.json({
      roles: policy.knownRoles(),
      lease_ms: policy.leaseMs,
      models: Object.keys(policy.doc.models),
    });
    return 0;
  } catch (e) {
    if (e instanceof PolicyError) {
      out.error(e.message);
      return 1;
    }
    throw e;
  }
}

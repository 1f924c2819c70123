import { parseArgs } from 'node:util';
import { DEFAULT_DATA_DIR } from '../../config/index.js';
import { describeHolder, folderLockHolder } from '../../lock/index.js';
import { adminTokenPath, writeNewAdminToken } from '../admin-token.js';
import type { Out } from '../output.js';

export const ADMIN_TOKEN_HELP = `Usage: tollgate admin-token rotate [--data-dir <dir>] [--json]

Embedded mode's admin token (kept as its SHA-256 digest in
<data dir>/admin-token.sha256): makes a new token, prints it once, and
replaces the digest. A running \`tollgate serve\` on that folder (started
without TOLLGATE_ADMIN_TOKEN) takes it within a second: the old token stops
working then. With no server running, the next start uses it.

Options:
  --data-dir <dir>  TOLLGATE_DATA_DIR (default ./.tollgate)
  --json            print {admin_token, file, created, server_pid}
  -h, --help        this text`;

/** `tollgate admin-token rotate`. */
export async function adminToken(out: Out, args: string[], env: NodeJS.ProcessEnv) {
  const { values, positionals } = parseArgs({
    args,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out.line(ADMIN_TOKEN_HELP);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'rotate') {
    out.error(
      `tollgate: ${positionals.length === 0 ? 'missing' : 'unknown'} subcommand\n\n${ADMIN_TOKEN_HELP}`,
    );
    return 2;
  }
  const dataDir = values['data-dir']?.trim() || env.TOLLGATE_DATA_DIR?.trim() || DEFAULT_DATA_DIR;
  const { token, record } = writeNewAdminToken(dataDir);
  const file = adminTokenPath(dataDir);
  const holder = await folderLockHolder(dataDir);
  if (values.json) {
    out.json({
      admin_token: token,
      file,
      created: record.created.toISOString(),
      server_pid: holder?.pid ?? null,
    });
    return 0;
  }
  out.line(`New admin token: ${token}`);
  out.line(`Shown only now: keep it. Its SHA-256 digest replaced the old one in ${file}.`);
  out.line(
    holder
      ? `${describeHolder(holder)} owns this folder: a \`tollgate serve\` there that reads this file (started without TOLLGATE_ADMIN_TOKEN) takes the new token within a second, and the old one stops working then.`
      : 'No process owns this folder now: the next `tollgate serve` on it uses this token.',
  );
  if (env.TOLLGATE_ADMIN_TOKEN?.trim()) {
    out.line(
      'Note: TOLLGATE_ADMIN_TOKEN is set here: a server started with it checks that token, not this file.',
    );
  }
  return 0;
}

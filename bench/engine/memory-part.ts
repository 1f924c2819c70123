/** The in-process half of bench:engine: MemoryEngine through the library. */
import { CONFIG } from './config.js';
import { logMeasurement, type Measurement, measure } from './measure.js';
import { setupTollgate } from './tollgate-ops.js';

const log = (text: string) => process.stderr.write(`${text}\n`);

export async function memoryPart(): Promise<Measurement[]> {
  log('MemoryEngine (in process)');
  const rows: Measurement[] = [];
  for (const op of ['authorize', 'pair'] as const) {
    for (const c of CONFIG.memoryConcurrency) {
      // A fresh engine per measurement: its outbox and holds live in memory.
      const mem = await setupTollgate({});
      try {
        const m = await measure({
          target: 'tollgate/memory',
          op,
          concurrency: c,
          run: op === 'authorize' ? mem.authorize : mem.pair,
        });
        logMeasurement(m);
        rows.push(m);
      } finally {
        await mem.tollgate.close();
      }
    }
  }
  return rows;
}

/**
 * The harness every benchmark runs in (docs/BENCHMARKS.md). `runBench` gives
 * the benchmark a context and runs it:
 *  - what the run starts (private servers, a database, clients) registers its
 *    stop with `ctx.onStop`; the stops run last first at the end, on an error
 *    and on Ctrl-C (services.ts starts the usual ones this way);
 *  - `ctx.publish(section)` prints the section's tables and floors and writes
 *    the section in docs/BENCHMARKS.md, keeping the others. BENCH_WRITE=0
 *    prints without writing (a check that a benchmark works, a busy machine).
 * Exit code: 1 on an error, 2 when a floor fails.
 */
import { fileURLToPath } from 'node:url';
import { replaceSection } from './markdown-section.js';
import { type MachineInfo, machineInfo } from './system.js';
import { type Column, fmt, markdownTable, textTable } from './table.js';

const DOC = fileURLToPath(new URL('../../docs/BENCHMARKS.md', import.meta.url));

export interface Floor {
  text: string;
  pass: boolean;
}

export interface Table {
  columns: readonly Column[];
  rows: string[][];
}

/** Markdown text, a table, or a list of floors; tables and floors are printed too. */
export type Block = string | Table | Floor[];

export interface Section {
  /** The heading line, e.g. `## bench/engine`. */
  heading: string;
  /** The commands shown first (a sh block). */
  command: string;
  /** The `Last run: …` line (ctx.lastRun). */
  lastRun: string;
  blocks: Block[];
}

export interface BenchContext {
  readonly machine: MachineInfo;
  log(text: string): void;
  /**
   * Registers a stop; the function returned forgets it and runs it now (once),
   * or only forgets it with `false` (something else stops it now).
   */
  onStop(stop: () => unknown): (run?: boolean) => Promise<void>;
  /** Seconds since the run started. */
  elapsed(): number;
  /** `Last run: <date> · node … · <versions> · nproc … (cpu) · <os> · <notes> · <s> s`. */
  lastRun(versions?: readonly string[], notes?: readonly string[]): string;
  /** Prints the section; writes it in docs/BENCHMARKS.md unless BENCH_WRITE=0 or `write` is false. */
  publish(section: Section, write?: boolean): void;
}

export const passFail = (pass: boolean) => (pass ? 'PASS' : 'FAIL');

/** `0.63×` */
export const times = (ratio: number) => `${fmt(ratio, 2)}×`;

const isTable = (b: Block): b is Table => typeof b === 'object' && 'columns' in b;

function markdown(s: Section): string {
  const blocks = s.blocks.map((b) => {
    if (typeof b === 'string') return b.trim();
    if (isTable(b)) return markdownTable(b.columns, b.rows);
    return b.map((f) => `- ${f.text}: ${passFail(f.pass)}`).join('\n');
  });
  return [s.heading, `\`\`\`sh\n${s.command}\n\`\`\``, s.lastRun, ...blocks].join('\n\n');
}

function consoleText(s: Section): string {
  const out = ['', s.heading.replace(/^#+ /, ''), s.lastRun];
  for (const b of s.blocks) {
    if (typeof b === 'string') continue;
    out.push(
      '',
      isTable(b)
        ? textTable(b.columns, b.rows)
        : b.map((f) => `${f.text}: ${passFail(f.pass)}`).join('\n'),
    );
  }
  return `${out.join('\n')}\n\n`;
}

/** Runs one benchmark (`name`, e.g. `bench/engine`) in a context of its own. */
export function runBench(name: string, main: (ctx: BenchContext) => Promise<void>): void {
  const started = performance.now();
  const stops: (() => unknown)[] = [];
  let failedFloor = false;
  const log = (text: string) => process.stderr.write(`${text}\n`);
  const stopAll = async () => {
    for (let s = stops.pop(); s !== undefined; s = stops.pop()) {
      await Promise.resolve()
        .then(s)
        .catch((e: unknown) => log(`${name}: a stop failed: ${String(e)}`));
    }
  };
  const elapsed = () => (performance.now() - started) / 1000;
  const machine = machineInfo();
  const ctx: BenchContext = {
    machine,
    log,
    elapsed,
    onStop(stop) {
      stops.push(stop);
      return async (run = true) => {
        const i = stops.lastIndexOf(stop);
        if (i < 0) return;
        stops.splice(i, 1);
        if (run) await stop();
      };
    },
    lastRun(versions = [], notes = []) {
      const m = machine;
      return [
        `Last run: ${m.date}`,
        `node ${m.node}`,
        ...versions,
        `nproc ${m.nproc} (${m.cpu})`,
        m.os,
        ...notes,
        `${fmt(elapsed(), 0)} s`,
      ].join(' · ');
    },
    publish(section, write = true) {
      process.stdout.write(consoleText(section));
      for (const b of section.blocks) {
        if (Array.isArray(b) && b.some((f) => !f.pass)) failedFloor = true;
      }
      if (!write || process.env.BENCH_WRITE === '0') {
        log(`${section.heading}: not written to ${DOC}`);
        return;
      }
      replaceSection(DOC, section.heading, markdown(section), '# Benchmarks');
      log(`wrote ${section.heading} in ${DOC}`);
    },
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping what ${name} started`);
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  main(ctx)
    .then(
      () => {
        if (failedFloor) process.exitCode = 2;
      },
      (err: unknown) => {
        log(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        process.exitCode = 1;
      },
    )
    .finally(async () => {
      await stopAll();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
}

/** True when `url` (a module's import.meta.url) is the script node was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] === fileURLToPath(url);
}

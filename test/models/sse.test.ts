import { describe, expect, it } from 'vitest';
import { type SseBlock, SseReader } from '../../src/models/sse.js';
import { bytes, splits, text } from './streams.js';

function read(body: string, keepRaw = false) {
  const all: [string, SseBlock[], Uint8Array | undefined][] = [];
  for (const [how, chunks] of splits(bytes(body))) {
    const reader = new SseReader({ keepRaw });
    const blocks = chunks.flatMap((c) => reader.push(c));
    all.push([how, blocks, reader.end()]);
  }
  return all;
}

describe('SseReader', () => {
  it('fields, multi-line data, comments, the three line ends, the leading space', () => {
    const body =
      '\uFEFF: comment\n\nevent: a\ndata: one\ndata:two\r\n\r\nid: 1\rdata:  three\r\rdata\n\nretry: 5\nevent: b\n\n';
    for (const [how, blocks] of read(body)) {
      expect(
        blocks.map((b) => [b.event, b.data]),
        how,
      ).toEqual([
        ['', undefined],
        ['a', 'one\ntwo'],
        ['', ' three'],
        ['', ''],
        ['b', undefined],
      ]);
    }
  });

  it('raw blocks put back together are the body, byte for byte; an unfinished block is returned at the end', () => {
    const body = 'data: é🚀\r\n\r\nevent: x\ndata: 1\n\ndata: unfinished';
    for (const [how, blocks, rest] of read(body, true)) {
      const raw = blocks.map((b) => b.raw ?? new Uint8Array());
      expect(text(rest ? [...raw, rest] : raw), how).toBe(body);
      expect(
        blocks.map((b) => b.data),
        how,
      ).toEqual(['é🚀', '1']);
    }
  });

  it('a BOM is dropped only at the start of the stream', () => {
    const reader = new SseReader();
    const blocks = reader.push(bytes('\uFEFFdata: a\n\ndata: \uFEFFb\n\n'));
    expect(blocks.map((b) => b.data)).toEqual(['a', '\uFEFFb']);
  });
});

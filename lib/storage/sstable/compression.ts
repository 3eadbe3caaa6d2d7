/**
 * Chunk compressors, by the class names of the table's `compression` option.
 * Compression runs synchronously on one chunk at a time (16 KiB by default, well under
 * a millisecond), and the writer yields to the event loop between chunks.
 */
import { compressSync, uncompressSync } from 'lz4-napi';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { CompressionOptions } from '../../schema/metadata.js';

export interface Compressor {
  /** Class name as recorded in CompressionInfo.db and the statistics; '' for none. */
  readonly name: string;
  compress(chunk: Buffer): Buffer;
  uncompress(stored: Buffer): Buffer;
}

const NONE: Compressor = { name: '', compress: (chunk) => chunk, uncompress: (stored) => stored };

const LZ4: Compressor = {
  name: 'LZ4Compressor',
  // lz4-napi's block format prefixes the uncompressed length, so uncompress needs no size.
  compress: (chunk) => compressSync(chunk),
  uncompress: (stored) => uncompressSync(stored),
};

const DEFLATE: Compressor = {
  name: 'DeflateCompressor',
  compress: (chunk) => deflateRawSync(chunk),
  uncompress: (stored) => inflateRawSync(stored),
};

const BY_NAME: ReadonlyMap<string, Compressor> = new Map([NONE, LZ4, DEFLATE].map((c) => [c.name, c]));

/**
 * The compressor new SSTables of a table use. The schema also accepts Snappy and Zstd
 * (as Cassandra does); sibyl has neither, so those tables get LZ4, Cassandra's default,
 * and their statistics say so.
 */
export function compressorFor(options: CompressionOptions): Compressor {
  if (!options.enabled || options.class === '') return NONE;
  return options.class === 'DeflateCompressor' ? DEFLATE : LZ4;
}

/** The compressor an existing SSTable was written with, or undefined if unknown. */
export function compressorNamed(name: string): Compressor | undefined {
  return BY_NAME.get(name);
}

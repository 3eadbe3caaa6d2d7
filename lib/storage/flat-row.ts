/**
 * A partition of one plain row, as fields over the bytes of the update it was written
 * in: what a flush of a key written once reads (mutation-decoder.ts, readFlatRow) and
 * writes (SSTableWriter.appendFlat) without making the dozen objects of a decoded
 * partition. "Plain": no deletion of any kind, no static row, no collection cells —
 * the shape of most INSERTs and UPDATEs; anything else is decoded as usual.
 *
 * One instance is reused from row to row: its arrays keep their length and `cellCount`
 * says how many entries hold this row's cells. Values are 0 where the update leaves a
 * field out, as the decoder reads them.
 */
const EMPTY = Buffer.alloc(0);

export class FlatRow {
  /** The bytes every range below is in. */
  bytes: Buffer = EMPTY;
  token = 0n;
  keyStart = 0;
  keyEnd = 0;
  /** [start, end) of each clustering component, in order: `clusteringCount` pairs. */
  readonly clustering: number[] = [];
  clusteringCount = 0;
  hasLiveness = false;
  livenessTimestamp = 0;
  livenessTtl = 0;
  livenessLocalDeletionTime = 0;
  cellCount = 0;
  readonly columns: string[] = [];
  readonly timestamps: number[] = [];
  readonly tombstones: boolean[] = [];
  readonly valueStarts: number[] = [];
  readonly valueEnds: number[] = [];
  readonly ttls: number[] = [];
  readonly localDeletionTimes: number[] = [];

  /** Starts a row over `bytes`. */
  reset(bytes: Buffer): void {
    this.bytes = bytes;
    this.keyStart = this.keyEnd = 0;
    this.clusteringCount = 0;
    this.hasLiveness = false;
    this.livenessTimestamp = this.livenessTtl = this.livenessLocalDeletionTime = 0;
    this.cellCount = 0;
  }

  get key(): Buffer {
    return this.bytes.subarray(this.keyStart, this.keyEnd);
  }

  /** The clustering components as views on the bytes. */
  clusteringValues(): Buffer[] {
    const values: Buffer[] = new Array<Buffer>(this.clusteringCount);
    for (let i = 0; i < values.length; i++) values[i] = this.bytes.subarray(this.clustering[2 * i], this.clustering[2 * i + 1]);
    return values;
  }

  addClustering(start: number, end: number): void {
    this.clustering[2 * this.clusteringCount] = start;
    this.clustering[2 * this.clusteringCount + 1] = end;
    this.clusteringCount++;
  }

  /** Adds a cell; false when the row has one of this column already (then it is not plain). */
  addCell(column: string, timestamp: number, tombstone: boolean, valueStart: number, valueEnd: number, ttl: number, localDeletionTime: number): boolean {
    const n = this.cellCount;
    for (let i = 0; i < n; i++) if (this.columns[i] === column) return false;
    this.columns[n] = column;
    this.timestamps[n] = timestamp;
    this.tombstones[n] = tombstone;
    this.valueStarts[n] = valueStart;
    this.valueEnds[n] = valueEnd;
    this.ttls[n] = ttl;
    this.localDeletionTimes[n] = localDeletionTime;
    this.cellCount = n + 1;
    return true;
  }
}

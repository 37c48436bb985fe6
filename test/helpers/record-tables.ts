// Hand-made pool records for the placement, evacuation and auto-restart rules: a RecordReader
// over in-memory tables (class → ref → row), filled with add().
import type { Row } from '../../src/manager/db/database.js';
import type { RecordReader } from '../../src/manager/vm/placement.js';

export class Records implements RecordReader {
  private readonly tables = new Map<string, Map<string, Row>>();
  add(cls: string, ref: string, row: Row): string {
    if (!this.tables.has(cls)) this.tables.set(cls, new Map());
    this.tables.get(cls)!.set(ref, row);
    return ref;
  }
  get(cls: string, ref: string) {
    return this.tables.get(cls)?.get(ref);
  }
  all(cls: string) {
    return this.tables.get(cls) ?? new Map<string, Row>();
  }
}

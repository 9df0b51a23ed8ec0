/** What restore uses of a snapshot, in one comparable form: for SnapshotData and SnapshotTable alike. */
import type { SnapshotData } from "../lib/snapshot/snapshot.ts";
import type { SnapshotTable } from "../lib/snapshot/table.ts";

/** What restore uses of a decoded snapshot: per path its type, fields and digest; refusals. */
export function viewOfData(data: SnapshotData) {
  const digestOf = new Map<string, string>();
  for (const [digest, paths] of Object.entries(data.files)) {
    for (const path of paths) digestOf.set(path, digest);
  }
  const paths = Object.keys(data.structure).sort();
  return {
    rows: paths.map((path) => [path, data.structure[path], digestOf.get(path)]),
    refused: (data.refused ?? []).map((r) => `${r.path}: ${r.reason}`).sort(),
    identity: data.identity,
  };
}

/** viewOfData of a SnapshotTable. */
export function viewOfTable(table: SnapshotTable) {
  const rows = [];
  for (let row = 0; row < table.count; row++) {
    if (table.type(row)) rows.push([table.paths[row], table.entry(row), table.digest(row)]);
  }
  return {
    rows,
    refused: table.refused.map((r) => `${r.path}: ${r.reason}`).sort(),
    identity: table.identity,
  };
}

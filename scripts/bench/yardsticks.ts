/** The bench's yardsticks and helpers: raw PUT/GET, GETs of every stored object, buckets. */
import process from "node:process";
import type { ObjectStore } from "../../lib/s3/client.ts";
import { MIB, Rng } from "./data.ts";
import type { Measured } from "./measure.ts";
import type { Row } from "./report.ts";

export function failure(what: string, m: Measured): Error {
  const tail = (text: string) => text.trim().split("\n").slice(-15).join("\n");
  return new Error(
    `${what} exited with code ${m.code}\n${tail(m.stderr)}${
      m.stdout.trim() ? `\nstdout: ${tail(m.stdout)}` : ""
    }`,
  );
}

/** A fresh bucket name with `prefix`. */
export function bucketName(prefix: string): string {
  const hex = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return `bench-${prefix}-${hex}`;
}

/** Objects and bytes stored in `bucket`. */
export async function storedBytes(store: ObjectStore, bucket: string) {
  let objects = 0;
  let bytes = 0;
  for await (const o of store.list(bucket)) {
    objects++;
    bytes += o.size;
  }
  return { objects, bytes };
}

/** Paths and sizes of every regular file under `dir`, relative to it, sorted. */
export async function walkFiles(dir: string, prefix = ""): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const entries = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) entries.push(e);
  for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) { for (const [k, v] of await walkFiles(dir, rel)) out.set(k, v); }
    else if (e.isFile) out.set(rel, (await Deno.stat(`${dir}/${rel}`)).size);
  }
  return out;
}

/** Runs `count` tasks with at most `width` at once. */
export async function inParallel(count: number, width: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, count) }, async () => {
    while (next < count) await fn(next++);
  }));
}

/** Wall and CPU time of `fn` in this process. */
export async function timedInProcess(
  fn: () => Promise<void>,
): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

/** Raw 1 MiB PUT and GET throughput: one at a time and 8 in flight. */
export async function rawS3(
  store: ObjectStore,
  n: number,
  signal: AbortSignal,
): Promise<{ rows: Row[]; getParallelMiBps: number }> {
  const bucket = bucketName("raw");
  await store.createBucket(bucket);
  const body = new Uint8Array(MIB);
  new Rng(6).fill(body);
  await store.put(bucket, "warm-up", body); // opens the connection
  const rows: Row[] = [];
  const mib = (n * MIB) / MIB;
  const add = (name: string, t: { wall: number; cpu: number }, stored?: number) =>
    rows.push({ name, wall: t.wall, cpu: t.cpu, mibps: mib / t.wall, stored });
  const check = () => signal.throwIfAborted();

  add(
    `raw PUT ${n} × 1 MiB, sequential`,
    await timedInProcess(async () => {
      for (let i = 0; i < n; i++) {
        check();
        await store.put(bucket, `seq/${i}`, body);
      }
    }),
  );
  add(
    `raw PUT ${n} × 1 MiB, 8 in flight`,
    await timedInProcess(() =>
      inParallel(n, 8, async (i) => {
        check();
        await store.put(bucket, `par/${i}`, body);
      })
    ),
  );
  const getOne = async (key: string) => {
    check();
    const got = await store.get(bucket, key);
    if (got.length !== MIB) throw new Error(`raw GET ${key}: ${got.length} bytes`);
  };
  add(
    `raw GET ${n} × 1 MiB, sequential`,
    await timedInProcess(async () => {
      for (let i = 0; i < n; i++) await getOne(`seq/${i}`);
    }),
  );
  const parallel = await timedInProcess(() => inParallel(n, 8, (i) => getOne(`par/${i}`)));
  add(`raw GET ${n} × 1 MiB, 8 in flight`, parallel);
  return { rows, getParallelMiBps: mib / parallel.wall };
}

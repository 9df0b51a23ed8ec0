/**
 * Issue 29: snapshot metadata parsed piece by piece (lib/snapshot/json_stream.ts) gives what
 * JSON.parse gives for the whole text, refuses what it refuses, and decodes 0.4.0's fixtures
 * and our own snapshots to the same SnapshotData as the plain JSON form.
 */
import { JsonPieceParser } from "../lib/snapshot/json_stream.ts";
import {
  decodeParsedSnapshot,
  decodeSnapshotText,
  encodeSnapshot,
  type SnapshotData,
} from "../lib/snapshot/snapshot.ts";
import { readSnapshot, readSnapshotTable } from "../lib/snapshot/stored.ts";
import { viewOfData, viewOfTable } from "./snapshot_views.ts";
import { BlockCodec } from "../lib/codec/block.ts";
import { assert, assertEquals } from "./assert.ts";
import { cliEnv, hasServer } from "./cli.ts";
import { fixtureDescription, fixtureNames, fixtureObjects } from "./fixture.ts";
import { openBucket } from "./tree.ts";

/** The text parsed by JsonPieceParser, cut into pieces of `size` characters. */
function parseInPieces(text: string, size: number): unknown {
  const parser = new JsonPieceParser();
  for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
  return parser.end();
}

const SIZES = [1, 2, 3, 7, 64, 1 << 20];

/** JSON.parse's outcome: the value, or that it threw. */
function outcome(parse: () => unknown): { value?: unknown; threw?: boolean } {
  try {
    return { value: parse() };
  } catch (err) {
    assert(err instanceof SyntaxError, `not a SyntaxError: ${err}`);
    return { threw: true };
  }
}

/** Own keys in order, and prototypes, as well as values: __proto__ must stay a key. */
function shape(value: unknown): unknown {
  if (!value || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(shape);
  return {
    proto: Object.getPrototypeOf(value) === Object.prototype,
    keys: Reflect.ownKeys(value).map(String),
    values: Reflect.ownKeys(value).map((k) =>
      shape((value as Record<string, unknown>)[k as string])
    ),
  };
}

const DIGEST = "a".repeat(64);
const TEXTS = [
  '{"files":{},"structure":{},"identity":"h:/r:1"}',
  ' \n\t{ "files" : { "' + DIGEST +
  '" : [ "a" , "b\\"c" ] } ,\r\n "structure":{"a":{"type":"file",' +
  '"user":"u","group":"g","mode":33188,"size":1,"mtime_ns":-1e3,"inode":2,"empty":false}},' +
  '"identity":"h:\\u00e9/r:1","x":[1,{"y":null}],"z":true} \n',
  '{"files":{"__proto__":["p"]},"structure":{"__proto__":{"a":1},"1":2,"b":3,"b":4,"0":5},"identity":"i"}',
  '{"structure":1,"structure":{"a":[]},"files":{},"identity":"i","identity":"j"}',
  '{"a":{}}',
  "{}",
  '{"a":"}{][\\\\","b":{"c":"\\\\\\"}"}}',
  '{"a":{"b":-0.5e+2,"c":false,"d":null,"e":"😀é"}}',
  // refused, as JSON.parse refuses them
  "",
  " ",
  "{",
  "{}x",
  "{},",
  '{"a":1,}',
  '{"a":{"b":1,}}',
  '{"a" 1}',
  '{"a":}',
  '{"a":{"b":}}',
  '{"a":{"b"}}',
  '{"a":{"b":1 2}}',
  '{"a":tru}',
  '{"a":01}',
  '{"a":"\\x"}',
  '{"a":"\u0001"}',
  '{"\u0001":1}',
  '{"a":{"\u0001":1}}',
  '{"a":{"b\\u0041":1,"\\"":2,"\\\\":3}}',
  "{'a':1}",
  '{"a":[1}',
  '{"a":{"b":[1}}',
  '{"a":{"b":1]}',
  "{a:1}",
  '\ufeff{"a":1}',
  "\u00a0{}",
  // not an object at the top: parsed whole
  "[1,2]",
  ' "text" ',
  "12",
  "null",
  "[",
];

Deno.test("JsonPieceParser: in pieces of any size, what JSON.parse gives or refuses", () => {
  for (const text of TEXTS) {
    const expected = outcome(() => JSON.parse(text));
    for (const size of SIZES) {
      const got = outcome(() => parseInPieces(text, size));
      assertEquals(got.threw, expected.threw, `${JSON.stringify(text)} in pieces of ${size}`);
      assertEquals(shape(got.value), shape(expected.value), `${JSON.stringify(text)}, ${size}`);
    }
  }
});

/** A snapshot of `count` files in folders of 10, with some odd names, and a symlink. */
function generated(count: number): SnapshotData {
  const snapshot: SnapshotData = { files: {}, structure: {}, identity: "host:/src:7" };
  const base = { user: "u", group: "g", inode: 1, mtime_ns: 1765000000123456789 };
  for (let i = 0; i < count; i++) {
    const dir = `d${Math.floor(i / 10)}`;
    if (i % 10 === 0) {
      snapshot.structure[dir] = { type: "directory", mode: 0o40755, size: 0, ...base };
    }
    const path = `${dir}/f${i}${i % 7 === 0 ? ' "é\\😀\n' : ""}`;
    snapshot.structure[path] = {
      type: "file",
      mode: 0o100644,
      size: i,
      empty: i === 0,
      ...base,
      ctime_ns: 1765000000000000000 + i,
    };
    if (i === 0) continue;
    const digest = (i % 13).toString(16).padStart(64, "0");
    (snapshot.files[digest] ??= []).push(path);
  }
  snapshot.structure["link"] = { type: "symlink", target: "d0", mode: 0o120777, size: 2, ...base };
  return snapshot;
}

Deno.test("our encoded snapshots decode the same, in pieces and whole", () => {
  const text = new TextDecoder().decode(encodeSnapshot(generated(500)));
  const whole = decodeSnapshotText(text, "s", true);
  for (const size of [1, 5, 4096]) {
    const pieces = decodeParsedSnapshot(parseInPieces(text, size), "s", true);
    assertEquals(pieces, whole);
    assertEquals(Object.keys(pieces.structure), Object.keys(whole.structure));
  }
  assertEquals(whole.refused, []);
  assertEquals(Object.keys(whole.structure).length, 551);
});

Deno.test({
  name: "0.4.0's fixtures: readSnapshot's streaming decode equals the plain JSON decode",
  ignore: !hasServer,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    for (const name of fixtureNames()) {
      const description = await fixtureDescription(name);
      const env = cliEnv(`json-stream-${name}`, description.password);
      const { store, bucket, close } = openBucket(env);
      try {
        await store.createBucket(env.SPARE_BUCKET);
        for (const [key, body] of await fixtureObjects(name)) {
          await store.put(env.SPARE_BUCKET, key, body);
        }
        const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
        const listing = await bucket.listing();
        const snapshot = [...listing.prefixes.keys()].find((p) => p.startsWith("snapshot_"))!;
        const blocks: Uint8Array[] = [];
        for await (const block of bucket.readPrefix(listing.prefixes.get(snapshot)!, codec)) {
          blocks.push(block.slice());
        }
        const text = new TextDecoder().decode(
          new Uint8Array(blocks.flatMap((b) => [...b])),
        );
        const plain = decodeSnapshotText(text, snapshot);
        assert(Object.keys(plain.structure).length > 0, `${name}: an empty fixture`);
        assertEquals(await readSnapshot(bucket, codec, listing, snapshot), plain, name);
        for (const size of [1, 3, 1000]) {
          assertEquals(decodeParsedSnapshot(parseInPieces(text, size), snapshot), plain, name);
        }
        // restore's compact form, read as it streams
        assertEquals(
          viewOfTable(await readSnapshotTable(bucket, codec, listing, snapshot)),
          viewOfData(plain),
          name,
        );
      } finally {
        close();
      }
    }
  },
});

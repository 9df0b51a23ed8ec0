/**
 * Both LZMA codecs, the system's liblzma through FFI and the lzma-native fallback: every
 * kind of block goes through each, each reads what the other writes, xz and Python's lzma
 * read what the FFI codec writes, and damaged streams fail (never hang).
 */
import { assert, assertEquals } from "./assert.ts";
import { liblzmaCallsOffThread, loadSystemCodec, outputSizeHint } from "../lib/codec/xz_ffi.ts";
import { loadNativeCodec } from "../lib/codec/xz_native.ts";
import type { XzCodec } from "../lib/codec/xz_types.ts";
import { BLOCK_SIZE } from "../lib/codec/block.ts";
import { pseudoRandom } from "./tree.ts";
import { pipeThrough } from "./pipe.ts";
import process from "node:process";
import { returnFreedBlocksToSystem } from "../lib/util/memory.ts";
import { concatBytes } from "../lib/util/bytes.ts";

const codecs: XzCodec[] = [loadSystemCodec(), await loadNativeCodec()];

const PYTHON_DECOMPRESS =
  "import lzma, sys; sys.stdout.buffer.write(lzma.decompress(sys.stdin.buffer.read()))";

function text(length: number, seed = 1): Uint8Array {
  const words = ["alpha", "beta", "gamma", "delta", "server", "backup", "log", "the", "of"];
  const out = new Uint8Array(length);
  let x = seed;
  let pos = 0;
  while (pos < length) {
    x = (x * 1103515245 + 12345) >>> 0;
    const word = `${words[x % words.length]}${x % 7 === 0 ? "\n" : " "}`;
    for (let i = 0; i < word.length && pos < length; i++) out[pos++] = word.charCodeAt(i);
  }
  return out;
}

/** Every kind of block: text, incompressible, empty, exactly one block, one byte over. */
const BLOCKS: [string, Uint8Array][] = [
  ["text", text(200_000)],
  ["incompressible", pseudoRandom(300_000, 7)],
  ["empty", new Uint8Array(0)],
  ["one byte", Uint8Array.of(42)],
  ["exactly one block", text(BLOCK_SIZE, 2)],
  ["one byte over a block", text(BLOCK_SIZE + 1, 3)],
  ["a small file", text(1500, 4)],
];

/** Fails the test instead of hanging when `promise` does not settle within 20 s. */
function withinSeconds<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in 20 s`)), 20_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

for (const codec of codecs) {
  const other = codecs.find((c) => c !== codec)!;
  Deno.test(`${codec.name} codec: every kind of block round-trips, and the other codec reads it`, async () => {
    for (const [kind, data] of BLOCKS) {
      const xz = await codec.compress(data, 6);
      assertEquals(await codec.decompress(xz), data, `${kind}: own round trip`);
      assertEquals(await other.decompress(xz), data, `${kind}: read by ${other.name}`);
      assertEquals(await codec.decompress(await other.compress(data, 6)), data, kind);
      if (kind === "incompressible") {
        assert(xz.length < data.length + 200, `stored uncompressed by liblzma: ${xz.length}`);
      }
    }
  });

  Deno.test(`${codec.name} codec: damaged, truncated or foreign input fails with a message`, async () => {
    const data = text(300_000, 5);
    const xz = await codec.compress(data, 6);
    const damaged = xz.slice();
    damaged[xz.length >> 1] ^= 0x55;
    const cases: [string, Uint8Array][] = [
      ["truncated", xz.subarray(0, xz.length - 13)],
      ["cut in the middle", xz.subarray(0, xz.length >> 1)],
      ["a damaged byte", damaged],
      ["trailing bytes", Uint8Array.of(...xz, 1, 2, 3, 4)],
      ["not xz", text(1000)],
      ["empty", new Uint8Array(0)],
    ];
    for (const [what, bad] of cases) {
      const error = await withinSeconds(codec.decompress(bad), what).then(
        () => undefined,
        (err) => err,
      );
      assert(error instanceof Error && error.message.length > 0, `${what}: refused`);
      assert(!/no answer/.test(error.message), `${what}: ${error.message}`);
    }
  });

  Deno.test(`${codec.name} codec: sizes stay within 1% of the other codec's, level by level`, async () => {
    const data = text(BLOCK_SIZE, 9);
    for (const level of [0, 6, 9]) {
      const [mine, theirs] = [await codec.compress(data, level), await other.compress(data, level)];
      assert(
        Math.abs(mine.length - theirs.length) <= theirs.length / 100,
        `level ${level}: ${mine.length} against ${theirs.length}`,
      );
    }
  });
}

Deno.test("xz and Python's lzma read what the FFI codec writes", async () => {
  const system = codecs[0];
  for (const [kind, data] of BLOCKS) {
    const xz = await system.compress(data, 6);
    assertEquals(await pipeThrough("xz", ["-dc"], xz), data, `${kind}: xz -d`);
    assertEquals(
      await pipeThrough("python3", ["-c", PYTHON_DECOMPRESS], xz),
      data,
      `${kind}: Python's lzma`,
    );
  }
});

Deno.test("the FFI codec reads xz's and Python's streams, concatenated and padded too", async () => {
  const system = codecs[0];
  const data = text(400_000, 11);
  const fromXz = await pipeThrough("xz", ["-9e", "-c"], data);
  assertEquals(await system.decompress(fromXz), data);
  const fromPython = await pipeThrough(
    "python3",
    ["-c", "import lzma, sys; sys.stdout.buffer.write(lzma.compress(sys.stdin.buffer.read()))"],
    data,
  );
  assertEquals(await system.decompress(fromPython), data);
  const both = Uint8Array.of(...fromXz, 0, 0, 0, 0, ...fromPython);
  const twice = new Uint8Array(data.length * 2);
  twice.set(data);
  twice.set(data, data.length);
  assertEquals(await system.decompress(both), twice);
});

Deno.test("the FFI codec's kept encoders serve blocks and small files without new tables", async () => {
  returnFreedBlocksToSystem(); // glibc set up as spare's main sets it up
  const system = codecs[0];
  const block = text(BLOCK_SIZE, 5);
  const small = text(3000, 6);
  // warm up: one encoder for each dictionary size
  await system.compress(block, 6);
  await system.compress(small, 6);
  const faults = () => process.resourceUsage().minorPageFault;
  const before = faults();
  for (let i = 0; i < 8; i++) {
    await system.compress(block, 6);
    await system.compress(small, 6);
  }
  // An encoder handed from a block to a small file and back frees and allocates the 1 MiB
  // dictionary's tables (mapped anew above 4 MiB): 16,800 page faults for the eight blocks;
  // kept, about 400 in all.
  const faulted = faults() - before;
  assert(faulted < 4000, `${faulted} page faults for 8 blocks and 8 small files`);
});

Deno.test("the FFI codec works small blocks on the calling thread, larger ones on another", async () => {
  const system = codecs[0];
  const offThread = async (work: () => Promise<unknown>) => {
    const before = liblzmaCallsOffThread();
    await work();
    return liblzmaCallsOffThread() - before;
  };
  for (const size of [1, 2500, 8191, 8192]) {
    const data = text(size, size);
    await system.compress(data, 6); // its encoder, set up once on another thread
    let xz: Uint8Array = new Uint8Array(0);
    assertEquals(await offThread(async () => xz = await system.compress(data, 6)), 0, `${size}`);
    let back: Uint8Array = new Uint8Array(0);
    assertEquals(await offThread(async () => back = await system.decompress(xz)), 0, `${size}`);
    assertEquals(back, data, `${size} bytes`);
  }
  const larger = text(8193, 8193);
  let xz: Uint8Array = new Uint8Array(0);
  assert(await offThread(async () => xz = await system.compress(larger, 6)) > 0);
  assert(await offThread(async () => assertEquals(await system.decompress(xz), larger)) > 0);
  // Two streams, the last of 10 bytes: the hint says 11, and the output of the first
  // grows from small pieces on the calling thread to large ones on another.
  const first = text(300_000, 13);
  const last = text(10, 14);
  const both = concatBytes([await system.compress(first, 6), await system.compress(last, 6)]);
  let decoded: Uint8Array = new Uint8Array(0);
  assert(await offThread(async () => decoded = await system.decompress(both)) > 0);
  assertEquals(decoded, concatBytes([first, last]));
});

Deno.test("the output size hint: exact for one stream, a guess for anything odd", async () => {
  const system = codecs[0];
  const data = text(123_456, 12);
  const xz = await system.compress(data, 6);
  assertEquals(outputSizeHint(xz), data.length + 1);
  const lied = xz.slice();
  lied[lied.length - 1] = 0;
  assertEquals(outputSizeHint(lied), Math.max(xz.length * 4, 65536));
  assertEquals(outputSizeHint(new Uint8Array(3)), 65536);
});

Deno.test("the FFI codec keeps its buffers alive while liblzma uses them, garbage collection or not", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-ffi",
      "--allow-read",
      "--v8-flags=--expose-gc",
      new URL("./xz_gc_stress.ts", import.meta.url).pathname,
      "10",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert(output.success, stderr);
  assertEquals(new TextDecoder().decode(output.stdout).trim(), "0", "failed round trips");
});

Deno.test("a missing system liblzma is an error the facade turns into the fallback", () => {
  let message = "";
  try {
    loadSystemCodec(["/nonexistent/liblzma.so.5"]);
  } catch (err) {
    message = String(err);
  }
  assert(message.includes("/nonexistent/liblzma.so.5"), message);
});

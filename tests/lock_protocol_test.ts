/**
 * Issue 27: the lock where conditional writes are honoured (plain Ceph), refused or ignored
 * (through tests/provider_proxy.ts): two concurrent runs, exactly one runs; stale locks of
 * this host are taken over, another host's are not.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import {
  type CliEnv,
  cliEnv,
  type CliResult,
  hasServer,
  spare,
  spareCommand,
  spareExpect,
  waitFor,
} from "./cli.ts";
import { type PersonalityName, ProviderProxy } from "./provider_proxy.ts";
import { describeTree, openBucket, pseudoRandom, TempDirs } from "./tree.ts";
import { LivenessFile } from "../lib/bucket/stale.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** The three lock situations: conditional writes honoured (no proxy), refused, ignored. */
const SERVERS: (PersonalityName | "ceph")[] = [
  "ceph",
  "conditional-put-refused",
  "conditional-put-ignored",
];

/** Runs `fn` with CLI settings that reach a fresh bucket through `server`, and direct ones. */
async function on(
  server: PersonalityName | "ceph",
  fn: (env: CliEnv, direct: CliEnv, dirs: TempDirs) => Promise<void>,
): Promise<void> {
  const proxy = server === "ceph" ? undefined : ProviderProxy.start(server);
  const direct = cliEnv("lock");
  const env = proxy ? { ...direct, SPARE_ENDPOINT: proxy.endpoint } : direct;
  const dirs = new TempDirs();
  try {
    await fn(env, direct, dirs);
  } finally {
    await proxy?.close();
    await dirs.removeAll();
  }
}

/** A tree of `mib` MiB of random data in a few files. */
async function randomTree(dirs: TempDirs, mib: number): Promise<string> {
  const src = await dirs.make();
  for (let i = 0; i < 3; i++) {
    await Deno.writeFile(`${src}/f${i}.bin`, pseudoRandom((mib * 1024 * 1024) / 3, 40 + i));
  }
  return src;
}

/** Keys of the bucket's lock state: `.lock` and the lock objects. */
async function lockKeys(direct: CliEnv): Promise<string[]> {
  const { store, close } = openBucket(direct);
  try {
    const keys: string[] = [];
    for await (const o of store.list(direct.SPARE_BUCKET, ".")) {
      if (o.key !== ".spare") keys.push(o.key);
    }
    return keys;
  } finally {
    close();
  }
}

async function output(child: Deno.ChildProcess): Promise<CliResult> {
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

for (const server of SERVERS) {
  Deno.test({
    name: `${server}: two concurrent creates, exactly one runs, the other names the holder`,
    ...options,
    fn: () =>
      on(server, async (env, direct, dirs) => {
        const src = await randomTree(dirs, 6);
        const runs = await Promise.all([0, 1].map(() =>
          output(
            spareCommand(["create", "--path", src, "--level", "1"], {
              PATH: Deno.env.get("PATH") ?? "",
              ...env,
            }).spawn(),
          )
        ));
        const codes = runs.map((r) => r.code).sort();
        assertEquals(codes, [0, 1], runs.map((r) => r.stderr).join("\n"));
        const loser = runs.find((r) => r.code === 1)!;
        assertStringIncludes(loser.stderr, "is locked by");
        assertStringIncludes(loser.stderr, " pid ");
        assertStringIncludes(loser.stderr, "(create)");
        assertEquals(await lockKeys(direct), [], "no lock is left");
        await spareExpect(0, ["verify"], env);
      }),
  });

  Deno.test({
    name: `${server}: after kill -9 of a restore, restore --resume takes the stale lock over`,
    ...options,
    fn: () =>
      on(server, async (env, direct, dirs) => {
        const src = await randomTree(dirs, 9);
        await spareExpect(0, ["create", "--path", src, "--level", "0"], env);
        const target = await dirs.make();
        const child = spareCommand(["restore", "--path", target], {
          PATH: Deno.env.get("PATH") ?? "",
          ...env,
        }).spawn();
        const { store, close } = openBucket(direct);
        let locked = false;
        const watching = (async () => {
          while (!locked) {
            locked = await store.exists(direct.SPARE_BUCKET, ".lock");
            if (!locked) await new Promise((r) => setTimeout(r, 20));
          }
        })();
        try {
          await waitFor("the restore's lock", () => locked, 30_000);
          await watching;
        } finally {
          close();
        }
        child.kill("SIGKILL");
        const status = await child.status;
        assertEquals(status.signal, "SIGKILL", "the restore was still running");
        assert((await lockKeys(direct)).includes(".lock"), "the killed run left its lock");
        const resumed = await spare(["restore", "--path", target, "--resume"], env);
        assertEquals(resumed.code, 0, resumed.stderr);
        const warnings = resumed.stderr.split("\n").filter((l) => l.includes("taking over"));
        assertEquals(warnings.length, 1, resumed.stderr);
        assertStringIncludes(warnings[0], `pid ${child.pid}`);
        assertStringIncludes(warnings[0], "(restore)");
        assertEquals(await describeTree(target), await describeTree(src));
        assertEquals(await lockKeys(direct), []);
      }),
  });

  Deno.test({
    name: `${server}: a lock of another host, or of a live process here, is never taken over`,
    ...options,
    fn: () =>
      on(server, async (env, direct, dirs) => {
        const src = await dirs.make();
        await Deno.writeTextFile(`${src}/a.txt`, "a\n");
        await spareExpect(0, ["create", "--path", src], env);
        const started = new Date().toISOString();
        // a run of this host that still runs: its liveness file is flocked (by this test)
        const live = await LivenessFile.create();
        assert(live, "a liveness file");
        const holders = [
          // its liveness file is not here: were the host not compared, it would look gone
          {
            hostname: "elsewhere.example",
            pid: 4242,
            command: "create",
            started,
            alive: "/tmp/spare-lock-of-another-host",
          },
          {
            hostname: Deno.hostname(),
            pid: Deno.pid,
            command: "verify",
            started,
            alive: live.path,
          },
        ];
        // where conditional writes are honoured .lock is the lock; elsewhere the lock objects
        const key = server === "ceph" ? ".lock" : `.spare-locks/${Date.now()}-00112233aabbccdd`;
        for (const holder of holders) {
          const { store, close } = openBucket(direct);
          try {
            const body = new TextEncoder().encode(JSON.stringify(holder));
            await store.put(direct.SPARE_BUCKET, key, body);
          } finally {
            close();
          }
          const refused = await spare(["create", "--path", src], env);
          assertEquals(refused.code, 1, refused.stderr);
          assertStringIncludes(refused.stderr, `is locked by ${holder.hostname} pid ${holder.pid}`);
          assert(!refused.stderr.includes("taking over"), refused.stderr);
          assertEquals(await lockKeys(direct), [key], "the lock is still there");
        }
        await live.release();
        await spareExpect(0, ["unlock"], env);
        await spareExpect(0, ["create", "--path", src], env);
        assertEquals(await lockKeys(direct), []);
      }),
  });
}

Deno.test({
  name: "where conditional writes work, a run's lock costs five requests (one more than 0.4.0's)",
  ...options,
  fn: async () => {
    const proxy = ProviderProxy.start("plain");
    const env = { ...cliEnv("lockcost"), SPARE_ENDPOINT: proxy.endpoint };
    const dirs = new TempDirs();
    try {
      const src = await dirs.make();
      await Deno.writeTextFile(`${src}/a.txt`, "a\n");
      await spareExpect(0, ["create", "--path", src], env);
      const before = proxy.requests.length;
      await spareExpect(0, ["verify"], env);
      const lockRequests = proxy.requests.slice(before).filter((r) =>
        /\/\.lock(\?|$)|\/\.spare-locks\//.test(r.target)
      );
      assertEquals(
        lockRequests.map((r) => r.method),
        ["PUT", "PUT", "PUT", "DELETE", "DELETE"],
        lockRequests.map((r) => `${r.method} ${r.target}`).join("\n"),
      );
    } finally {
      await proxy.close();
      await dirs.removeAll();
    }
  },
});

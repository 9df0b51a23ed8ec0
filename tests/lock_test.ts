import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliEnv, hasServer, spare, spareExpect } from "./cli.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "lock → 0, lock again → 1, unlock → 0, unlock again → 1 (CLI)",
  ...options,
  fn: async () => {
    const env = cliEnv("lock");
    await spareExpect(0, ["lock"], env);
    const again = await spareExpect(1, ["lock"], env);
    assertStringIncludes(again.stderr, "already locked");
    await spareExpect(0, ["unlock"], env);
    const none = await spareExpect(1, ["unlock"], env);
    assertStringIncludes(none.stderr, "not locked");
  },
});

Deno.test({
  name: "a locked bucket refuses create, restore and verify, naming the holder",
  ...options,
  fn: async () => {
    const env = cliEnv("locked");
    const src = await Deno.makeTempDir();
    await Deno.writeTextFile(`${src}/a.txt`, "a");
    await spareExpect(0, ["create", "--path", src], env);
    await spareExpect(0, ["lock"], env);
    for (const command of ["create", "verify", "restore"]) {
      const target = command === "restore" ? await Deno.makeTempDir() : src;
      const result = await spare([command, "--path", target], env);
      assertEquals(result.code, 1, result.stderr);
      assertStringIncludes(result.stderr, "is locked by");
      assertStringIncludes(result.stderr, " pid ");
    }
    await spareExpect(0, ["unlock"], env);
    await spareExpect(0, ["verify"], env);
    await Deno.remove(src, { recursive: true });
  },
});

Deno.test({
  name: "usage errors exit 2; missing options name the flag and the variable",
  ...options,
  fn: async () => {
    const env = cliEnv("usage");
    assertEquals((await spare(["frobnicate"], env)).code, 2);
    assertEquals((await spare(["lock", "--no-such-option"], env)).code, 2);
    const { SPARE_BUCKET: _, ...noBucket } = env;
    const missing = await spare(["lock"], noBucket);
    assertEquals(missing.code, 2);
    assertStringIncludes(missing.stderr, "--bucket");
    assertStringIncludes(missing.stderr, "SPARE_BUCKET");
    const { SPARE_PASSWORD: __, ...noPassword } = env;
    const noPw = await spare(["verify"], noPassword);
    assertEquals(noPw.code, 2);
    assertStringIncludes(noPw.stderr, "SPARE_PASSWORD");
    const help = await spareExpect(0, ["--help"], {});
    assertStringIncludes(help.stdout, "spare create");
    const version = await spareExpect(0, ["--version"], {});
    assert(/^spare \S+ \(deno \S+, bucket format 0\.4\.0\)/.test(version.stdout), version.stdout);
  },
});

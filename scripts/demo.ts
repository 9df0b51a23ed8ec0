/**
 * `deno task demo`: a backup and a restore against a local S3 server, no configuration.
 * Starts a throwaway server on 127.0.0.1 (MinIO or Ceph when installed, else s3rver from
 * npm), makes a small sample tree, runs create, verify and restore through the real CLI,
 * checks that the restored tree equals the original, and stops the server.
 */
import { describeTree } from "../tests/tree.ts";
import { type S3Server, startS3Server } from "./s3_server.ts";
import { spareRunArgs } from "./spare_task.ts";

async function sampleTree(root: string): Promise<void> {
  await Deno.mkdir(`${root}/docs/notes`, { recursive: true });
  await Deno.mkdir(`${root}/bin`);
  await Deno.writeTextFile(`${root}/README.txt`, "A sample tree for the spare demo.\n");
  await Deno.writeTextFile(`${root}/docs/notes/todo.txt`, "- back up\n- restore\n".repeat(200));
  await Deno.writeTextFile(`${root}/docs/copy-of-todo.txt`, "- back up\n- restore\n".repeat(200));
  await Deno.writeTextFile(`${root}/bin/run.sh`, "#!/bin/sh\necho spare demo\n", { mode: 0o755 });
  await Deno.chmod(`${root}/bin/run.sh`, 0o755);
  await Deno.writeTextFile(`${root}/empty.txt`, "");
  const data = new Uint8Array(2_500_000);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  await Deno.writeFile(`${root}/random.bin`, data);
  await Deno.link(`${root}/README.txt`, `${root}/README-hardlink.txt`);
  await Deno.symlink("docs/notes/todo.txt", `${root}/todo-link`);
}

async function spare(args: string[], env: Record<string, string>): Promise<void> {
  console.log(`$ spare ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), { args: spareRunArgs(args), env }).spawn()
    .status;
  if (!status.success) throw new Error(`spare ${args[0]} exited ${status.code}`);
}

if (import.meta.main) {
  let server: S3Server | undefined;
  const work = await Deno.makeTempDir({ prefix: "spare-demo-" });
  let code = 0;
  try {
    console.log("starting a local S3 server on 127.0.0.1 ...");
    server = await startS3Server({ allowS3rver: true });
    console.log(`${server.kind} at ${server.endpoint}\n`);
    const source = `${work}/source`;
    const restored = `${work}/restored`;
    await Deno.mkdir(source);
    await sampleTree(source);
    const env = {
      SPARE_ENDPOINT: server.endpoint,
      SPARE_ACCESS_KEY: server.accessKey,
      SPARE_SECRET_KEY: server.secretKey,
      SPARE_BUCKET: "spare-demo",
      SPARE_PASSWORD: "demo password",
      // The local server is reached directly even where HTTP_PROXY is set.
      no_proxy: "127.0.0.1,localhost",
      NO_PROXY: "127.0.0.1,localhost",
    };
    await spare(["create", "--path", source, "--verbose"], env);
    await spare(["verify"], env);
    await spare(["snapshots"], env);
    await spare(["restore", "--path", restored, "--verbose"], env);
    const [before, after] = [
      JSON.stringify(await describeTree(source)),
      JSON.stringify(await describeTree(restored)),
    ];
    if (before !== after) throw new Error("the restored tree differs from the original");
    console.log("\nthe restored tree equals the original (content, modes, mtimes, links)");
  } catch (err) {
    console.error(`demo failed: ${err instanceof Error ? err.message : err}`);
    code = 1;
  } finally {
    await server?.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  Deno.exit(code);
}

/** s3rver in a `deno run` subprocess: for demos only (no signature checks). */
import { freePort, HOST, type ServerSetup } from "./daemons.ts";

// ---------------------------------------------------------------------------------------
// s3rver (fallback for demos only)

/** Starts it in `dir` under `procs`; returns its endpoint URL once it answers. */
export async function startS3rver(
  { dir, procs, keys, signal, log }: ServerSetup,
): Promise<string> {
  const port = freePort();
  // s3rver 3.7.1 hard-codes the key pair S3RVER/S3RVER: a tiny entry script swaps in ours.
  const entry = `${dir}/s3rver-main.mjs`;
  await Deno.writeTextFile(
    entry,
    `import S3rver from "npm:s3rver@3.7.1";
import account from "npm:s3rver@3.7.1/lib/models/account.js";
const [directory, port, accessKey, secretKey] = Deno.args;
account.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");
account.DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);
await new S3rver({ address: "${HOST}", port: Number(port), directory, silent: true }).run();
`,
  );
  await Deno.mkdir(`${dir}/data`);
  // --no-config/--no-lock: the package goes to Deno's global cache, not to this project's
  // node_modules or deno.lock.
  procs.spawn("s3rver", Deno.execPath(), [
    "run",
    "--no-config",
    "--no-lock",
    "--quiet",
    `--allow-net=${HOST}`,
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
    "--allow-env",
    "--allow-sys",
    entry,
    `${dir}/data`,
    String(port),
    keys.accessKey,
    keys.secretKey,
  ]);
  log(`s3rver started on port ${port}`);
  await procs.waitHttp(port, "/", signal);
  return `http://${HOST}:${port}`;
}

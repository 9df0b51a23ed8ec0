/** Running the spare CLI as a subprocess, with exactly the permission flags of `deno task spare`. */
import { spareRunArgs, spareTaskFlags } from "../scripts/spare_task.ts";
import { assertEquals } from "./assert.ts";
import { freshBucketName, testS3Env } from "./s3_env.ts";

export { spareTaskFlags };

/** What a CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Connection and bucket settings for one test. */
export interface CliEnv {
  SPARE_ENDPOINT: string;
  SPARE_ACCESS_KEY: string;
  SPARE_SECRET_KEY: string;
  SPARE_BUCKET: string;
  SPARE_PASSWORD: string;
  [name: string]: string;
}

/** Settings for a fresh bucket on the test server (throws when there is none). */
export function cliEnv(bucketPrefix = "t", password = "test password"): CliEnv {
  const s3 = testS3Env();
  if (!s3) throw new Error("no test S3 server (run the tests with `deno task test`)");
  return {
    SPARE_ENDPOINT: s3.endpoint,
    SPARE_ACCESS_KEY: s3.accessKey,
    SPARE_SECRET_KEY: s3.secretKey,
    SPARE_BUCKET: freshBucketName(bucketPrefix),
    SPARE_PASSWORD: password,
  };
}

/** The command that runs spare: deno, its flags, main.ts. */
export function spareCommand(
  args: string[],
  env: Record<string, string>,
  flags = spareTaskFlags(),
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: spareRunArgs(args, flags),
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** The variables Deno itself needs (PATH, HOME, DENO_DIR), taken from our environment. */
export function passThroughEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Runs spare to the end. */
export async function spare(
  args: string[],
  env: Record<string, string>,
  flags?: string[],
): Promise<CliResult> {
  const output = await spareCommand(args, { PATH: Deno.env.get("PATH") ?? "", ...env }, flags)
    .output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs spare and fails the test unless it exits with `expected`. */
export async function spareExpect(
  expected: number,
  args: string[],
  env: Record<string, string>,
  flags?: string[],
): Promise<CliResult> {
  const result = await spare(args, env, flags);
  if (result.code !== expected) {
    throw new Error(
      `spare ${
        args.join(" ")
      } exited ${result.code}, expected ${expected}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result;
}

/** Waits until `condition` holds, polling every 20 ms; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True when the tests have an S3 server. */
export const hasServer = testS3Env() !== undefined;

/** Runs spare and returns its exit code, its stdout as bytes and its stderr. */
export async function spareBytes(args: string[], env: Record<string, string>) {
  const output = await spareCommand(args, { ...passThroughEnv(), ...env }).output();
  return {
    code: output.code,
    stdout: output.stdout,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Runs `restore --json` into `target` with `selection`, expecting no warning; its figures. */
export async function restoreJson(env: CliEnv, target: string, selection: string[]) {
  const result = await spareExpect(0, ["restore", "--path", target, "--json", ...selection], env);
  assertEquals(result.stderr, "", "restore warned");
  return JSON.parse(result.stdout) as { bytesDownloaded: number; filesDone: number };
}

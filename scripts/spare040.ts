/**
 * Running the real spare 0.4.0 (for `deno task fixtures` and `deno task compat`; never in the
 * tests). SPARE_040 names an executable that runs 0.4.0's CLI with the arguments given, e.g.
 * a script that sets PYTHONPATH and calls `python3 -m spare.cli`.
 */

/** Where to reach a bucket: what 0.4.0's --endpoint, --access-key... options take. */
export interface Bucket040 {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  password: string;
}

/** The executable SPARE_040 names; exits with a clear message when it is not set. */
export function spare040FromEnv(task: string): string {
  const script = Deno.env.get("SPARE_040");
  if (!script) {
    console.error(
      `deno task ${task} needs the real spare 0.4.0: set SPARE_040 to an executable that runs ` +
        "its CLI (create|restore|validate ... --endpoint URL --access-key K ...)",
    );
    Deno.exit(2);
  }
  return script;
}

/** Runs 0.4.0 `command` on the bucket (in `cwd`); returns its exit code and output. */
export async function run040(
  script: string,
  command: "create" | "restore" | "validate",
  bucket: Bucket040,
  cwd: string,
  extra: string[] = [],
): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(script, {
    args: [
      command,
      "--endpoint",
      bucket.endpoint,
      "--access-key",
      bucket.accessKey,
      "--secret-key",
      bucket.secretKey,
      "--password",
      bucket.password,
      "--bucket",
      bucket.bucket,
      ...extra,
    ],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: (dec.decode(out.stdout) + dec.decode(out.stderr)).trim() };
}

/** Like run040, but throws with 0.4.0's output unless it exits 0. */
export async function must040(
  script: string,
  command: "create" | "restore" | "validate",
  bucket: Bucket040,
  cwd: string,
  extra: string[] = [],
): Promise<string> {
  const { code, output } = await run040(script, command, bucket, cwd, extra);
  if (code !== 0) {
    throw new Error(`0.4.0 ${command} ${extra.join(" ")} exited ${code}:\n${lastLines(output)}`);
  }
  return output;
}

/** The last lines of a program's output, for an error message. */
export function lastLines(text: string, n = 6): string {
  return text.split("\n").slice(-n).join("\n");
}

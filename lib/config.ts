/** Command-line options and their SPARE_* environment fallbacks. */
import { UsageError } from "./util/mod.ts";

/** An option that may also come from the environment (and from a file). */
interface Source {
  flag: string;
  env: string;
  fileFlag?: string;
  fileEnv?: string;
}

const SOURCES = {
  endpoint: { flag: "endpoint", env: "SPARE_ENDPOINT" },
  accessKey: { flag: "access-key", env: "SPARE_ACCESS_KEY" },
  secretKey: {
    flag: "secret-key",
    env: "SPARE_SECRET_KEY",
    fileFlag: "secret-key-file",
    fileEnv: "SPARE_SECRET_KEY_FILE",
  },
  password: {
    flag: "password",
    env: "SPARE_PASSWORD",
    fileFlag: "password-file",
    fileEnv: "SPARE_PASSWORD_FILE",
  },
  bucket: { flag: "bucket", env: "SPARE_BUCKET" },
  path: { flag: "path", env: "SPARE_PATH" },
  region: { flag: "region", env: "SPARE_REGION" },
  timeout: { flag: "timeout", env: "SPARE_TIMEOUT" },
  caCert: { flag: "ca-cert", env: "SPARE_CA_CERT" },
  addressing: { flag: "addressing", env: "SPARE_ADDRESSING" },
} satisfies Record<string, Source>;

/** Names of the settings that have environment fallbacks. */
export type Setting = keyof typeof SOURCES;

/** The environment variables spare reads (for scoped --allow-env). */
export const ENV_VARS = Object.values(SOURCES).flatMap((
  s: Source,
) => [s.env, ...(s.fileEnv ? [s.fileEnv] : [])]);

/** An environment variable, or undefined when unset, empty or not granted. */
export function readEnv(name: string): string | undefined {
  try {
    const value = Deno.env.get(name);
    return value === "" ? undefined : value;
  } catch {
    return undefined; // env access not granted for this name
  }
}

function firstLine(path: string, flag: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new UsageError(
      `cannot read ${flag} ${path}: ${err instanceof Error ? err.message : err}`,
    );
  }
  const line = text.split(/\r?\n/, 1)[0];
  if (!line) throw new UsageError(`${flag} ${path} is empty`);
  return line;
}

/** Resolves settings from parsed flags, then files, then the environment. */
export class Settings {
  constructor(private readonly flags: Record<string, unknown>) {}

  /** The value of a setting, or undefined when given nowhere. */
  get(name: Setting): string | undefined {
    const source: Source = SOURCES[name];
    const flagValue = this.flags[source.flag];
    if (typeof flagValue === "string" && flagValue !== "") return flagValue;
    if (source.fileFlag) {
      const fileValue = this.flags[source.fileFlag];
      if (typeof fileValue === "string" && fileValue !== "") {
        return firstLine(fileValue, `--${source.fileFlag}`);
      }
    }
    const envValue = readEnv(source.env);
    if (envValue !== undefined) return envValue;
    if (source.fileEnv) {
      const envFile = readEnv(source.fileEnv);
      if (envFile !== undefined) return firstLine(envFile, source.fileEnv);
    }
    return undefined;
  }

  /** The value of a required setting; a usage error names the flag and its variable. */
  require(name: Setting): string {
    const value = this.get(name);
    if (value !== undefined) return value;
    const source: Source = SOURCES[name];
    const alternatives = [
      `--${source.flag}`,
      ...(source.fileFlag ? [`--${source.fileFlag}`] : []),
      source.env,
    ];
    if (source.fileEnv) alternatives.push(source.fileEnv);
    throw new UsageError(`missing ${alternatives[0]} (or ${alternatives.slice(1).join(", ")})`);
  }
}

/** Parses a whole number option within bounds. */
export function intOption(
  value: unknown,
  flag: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(
      `--${flag} takes a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

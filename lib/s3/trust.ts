/**
 * The certificate authorities an https:// endpoint is checked against: the system's store,
 * found the way OpenSSL-based tools and Go programs (curl, restic) find it, plus the PEM
 * bundle of --ca-cert / SPARE_CA_CERT. Given to the TLS agent as its `ca`, this list replaces
 * Deno's own bundled roots (which node:https only reaches with an unscoped --allow-sys when
 * NODE_EXTRA_CA_CERTS is set).
 */
import { UsageError } from "../util/mod.ts";

/** Bundles of the system's CAs, first found wins (Debian/Ubuntu, RHEL/Fedora, SUSE, Alpine, macOS, BSD). */
export const SYSTEM_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
  "/etc/pki/tls/cacert.pem",
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
  "/etc/ssl/cert.pem",
  "/usr/local/etc/ssl/cert.pem",
];

/** Directories of single CA files (OpenSSL's hashed directories), all read. */
export const SYSTEM_DIRECTORIES = ["/etc/ssl/certs", "/etc/pki/tls/certs"];

/** The environment variables that move the system's store (as for OpenSSL). */
export const TRUST_ENV = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in `text`, each normalized to 64-character lines. */
export function pemCertificates(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(PEM_CERTIFICATE)) {
    const body = match[0].slice(27, -25).replace(/\s+/g, "");
    if (body.length === 0) continue;
    const lines = body.match(/.{1,64}/g)!;
    found.push(`-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`);
  }
  return found;
}

/** Where the trusted CAs came from, for messages. */
export interface TrustedCertificates {
  /** PEM certificates, each once. */
  certificates: string[];
  /** The files and directories read, in order. */
  sources: string[];
}

function readTextOrUndefined(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // not granted: as if unset
  }
}

/** The files of a CA directory, skipping links to files of the same directory (hash names). */
function directoryFiles(directory: string): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(directory)];
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = `${directory}/${entry.name}`;
    if (entry.isSymlink) {
      try {
        const target = Deno.readLinkSync(path);
        if (!target.includes("/")) continue; // another name of a file read anyway
      } catch {
        continue;
      }
    } else if (!entry.isFile) continue;
    files.push(path);
  }
  return files.sort();
}

/**
 * The system's CAs: SSL_CERT_FILE, else the first bundle of SYSTEM_BUNDLES that exists; and
 * every file of SSL_CERT_DIR (separated as PATH is), else of SYSTEM_DIRECTORIES.
 */
export function systemCertificates(
  env: (name: string) => string | undefined = readEnv,
): TrustedCertificates {
  const seen = new Set<string>();
  const result: TrustedCertificates = { certificates: [], sources: [] };
  /** Adds the certificates of `text`; false when it holds none. */
  const add = (text: string | undefined) => {
    const found = text === undefined ? [] : pemCertificates(text);
    for (const pem of found) {
      if (seen.has(pem)) continue;
      seen.add(pem);
      result.certificates.push(pem);
    }
    return found.length > 0;
  };
  const file = env("SSL_CERT_FILE");
  for (const bundle of file ? [file] : SYSTEM_BUNDLES) {
    if (add(readTextOrUndefined(bundle))) {
      result.sources.push(bundle);
      break;
    }
  }
  const separator = Deno.build.os === "windows" ? ";" : ":";
  const dirs = env("SSL_CERT_DIR")?.split(separator).filter((d) => d !== "") ??
    SYSTEM_DIRECTORIES;
  for (const directory of dirs) {
    let any = false;
    for (const path of directoryFiles(directory)) any = add(readTextOrUndefined(path)) || any;
    if (any) result.sources.push(directory);
  }
  return result;
}

/** The PEM bundle of --ca-cert / SPARE_CA_CERT; a file without certificates is refused. */
export function caCertFile(path: string, setting: string): string[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new UsageError(
      `cannot read ${setting} ${path}: ${err instanceof Error ? err.message : err}`,
    );
  }
  const found = pemCertificates(text);
  if (found.length === 0) {
    throw new UsageError(
      `${setting} ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  }
  return found;
}

/**
 * Every CA an https:// endpoint may chain to: the system's store plus `extra` (--ca-cert).
 * Undefined when neither holds a certificate (no store on this machine, e.g. Windows): Deno's
 * own bundled roots (Mozilla's) are used then.
 */
export function trustedCertificates(
  extra: string[] = [],
  env: (name: string) => string | undefined = readEnv,
): string[] | undefined {
  const all = [...systemCertificates(env).certificates];
  const seen = new Set(all);
  for (const pem of extra) if (!seen.has(pem)) all.push(pem);
  return all.length > 0 ? all : undefined;
}
